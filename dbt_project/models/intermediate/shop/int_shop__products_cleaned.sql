{{ tabular_cleaned_stream('shop', 'products') }}
