{{ indicators_wide('Local authority', ['old_la_code', 'la_name', 'region_code']) }}
