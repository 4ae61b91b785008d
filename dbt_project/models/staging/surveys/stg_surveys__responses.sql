-- Survey responses, one row per response_key (macros/survey_staging.sql: the first loaded copy)
{{ survey_responses_first_loaded() }}
