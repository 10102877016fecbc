{{ tabular_cleaned_stream('shop', 'purchases') }}
