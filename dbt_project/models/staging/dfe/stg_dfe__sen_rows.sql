{{ dfe_staging('dfe_sen', ['total_pupils', 'sen_support', 'ehc_plan']) }}
