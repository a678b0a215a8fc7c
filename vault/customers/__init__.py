"""Customer records: the field catalogue, encrypted values, blind-index search, interactions."""
