{{ tabular_cleaned_stream('shop', 'users') }}
