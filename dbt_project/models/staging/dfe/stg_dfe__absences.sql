{{ dfe_staging('dfe_absence', ['enrolments', 'sess_possible', 'sess_overall', 'sess_authorised', 'sess_unauthorised', 'sess_overall_percent', 'enrolments_pa_10', 'enrolments_pa_50']) }}
