"""The asset graph by stage: ingestion (raw streams), dbt (cleaning, labeling, marts), release."""
