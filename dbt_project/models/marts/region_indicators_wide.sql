{{ indicators_wide('Regional', ['region_name']) }}
