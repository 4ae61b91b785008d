-- Suspensions and permanent exclusions by pupil characteristic, as landed (ingestion/characteristics.py): one
-- row per time period, geography, phase and pupil group; the most recently loaded copy of a row wins.
{{ dfe_staging(
    'dfe_exclusions_characteristics',
    ['headcount', 'perm_excl', 'perm_excl_rate', 'suspension', 'susp_rate', 'one_plus_susp', 'one_plus_susp_rate'],
    attributes=['characteristic_group', 'characteristic', 'breakdown', 'breakdown_value'],
    keys=['breakdown', 'breakdown_value'],
) }}
