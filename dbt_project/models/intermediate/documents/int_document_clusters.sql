-- sqlfluff:ignore:parsing
-- (sqlfluff 4.4's duckdb dialect cannot parse WITH RECURSIVE ... USING KEY; dbt builds and tests it)
{{ config(materialized='table', tags=['cleaning']) }}
{#-
    Duplicate clusters: connected components of the graph whose edges are exact duplicates
    (same content_hash) and verified near-duplicate matches. Only documents in a cluster of
    two or more appear. Rebuilt each run from the stored edges (cheap: it reads pairs, not
    texts). Representative, in this order (stable: a later arrival never displaces an
    earlier representative unless it is the only member that passes the screens):
      1. a document that passes the screens (int_documents_screened: length, language,
         quality rules) before one that does not,
      2. the earliest first_extracted_at (first seen wins, as in exact dedup),
      3. source_name, stream_name, source_key, document_id (deterministic tie-break).
    cluster_id is the representative's document_id.
-#}

with recursive

int_documents_screened as (
    select * from {{ ref('int_documents_screened') }}
),

exact_groups as (
    select
        content_hash,
        min(document_id) as anchor_document_id
    from int_documents_screened
    where content_hash is not null
    group by content_hash
    having count(*) > 1
),

directed_edges as (
    select
        screened.document_id as node_a,
        exact_groups.anchor_document_id as node_b
    from int_documents_screened as screened
    inner join exact_groups
        on screened.content_hash = exact_groups.content_hash
    where screened.document_id != exact_groups.anchor_document_id
    union all
    select
        near_pairs.document_id_a as node_a,
        near_pairs.document_id_b as node_b
    from {{ ref('int_document_near_pairs') }} as near_pairs
    -- both ends must still be screened documents (a removed source's pairs stay behind)
    inner join int_documents_screened as screened_a
        on near_pairs.document_id_a = screened_a.document_id
    inner join int_documents_screened as screened_b
        on near_pairs.document_id_b = screened_b.document_id
),

edges as (
    select node_a, node_b from directed_edges
    union
    select node_b as node_a, node_a as node_b from directed_edges
),

nodes as (
    select distinct node_a as node from edges
),

-- Label propagation: every node takes the smallest label among itself and its neighbours
-- until nothing changes (USING KEY keeps one row per node).
components (node, component) using key (node) as (
    select
        node,
        node as component
    from nodes
    union
    select
        edges.node_b as node,
        min(components.component) as component
    from components
    inner join edges
        on components.node = edges.node_a
    inner join recurring.components as current_label
        on edges.node_b = current_label.node
    group by edges.node_b
    having min(components.component) < min(current_label.component)
),

members as (
    select
        components.component,
        screened.document_id,
        screened.source_name,
        screened.stream_name,
        screened.source_key,
        screened.content_hash,
        screened.first_extracted_at,
        screened.screen_drop_reason
    from components
    inner join int_documents_screened as screened
        on components.node = screened.document_id
),

ranked as (
    select
        *,
        first_value(document_id) over (
            partition by component
            order by
                (screen_drop_reason is null) desc,
                first_extracted_at asc,
                source_name asc,
                stream_name asc,
                source_key asc,
                document_id asc
        ) as representative_document_id
    from members
),

final as (
    select
        ranked.document_id,
        ranked.source_name,
        ranked.stream_name,
        ranked.source_key,
        ranked.representative_document_id as cluster_id,
        ranked.representative_document_id,
        case
            when ranked.document_id = ranked.representative_document_id then 'representative'
            when ranked.content_hash = representative.content_hash then 'exact'
            else 'near'
        end as match_type,
        count(*) over (partition by ranked.component) as cluster_size
    from ranked
    inner join ranked as representative
        on ranked.representative_document_id = representative.document_id
)

select * from final
