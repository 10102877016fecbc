"""Label workflows outside dbt: the adjudication queue as a Label Studio import file."""
