{{ indicators_wide('National', ['country_name']) }}
