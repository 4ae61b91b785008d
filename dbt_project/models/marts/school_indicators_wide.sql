{{ indicators_wide('School', ['school_name', 'school_laestab', 'phase', 'trust_id', 'new_la_code', 'region_code']) }}
