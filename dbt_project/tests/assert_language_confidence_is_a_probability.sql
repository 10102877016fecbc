-- A returned row is a document whose language confidence is outside [0, 1], or whose
-- language and confidence are not both present or both absent. Either means the language
-- UDF (refinery_udfs.language) returned something other than a probability for a label,
-- and var min_language_confidence would then gate documents on a meaningless number.
select
    document_id,
    language,
    language_confidence
from {{ ref('int_documents_language') }}
where
    language_confidence < 0
    or language_confidence > 1
    or (language is null) != (language_confidence is null)
