{{ dfe_staging('dfe_exclusions', ['headcount', 'perm_excl', 'perm_excl_rate', 'suspension', 'susp_rate', 'one_plus_susp', 'one_plus_susp_rate']) }}
