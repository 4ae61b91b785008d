-- Survey answers, one row per response_key and item_id (macros/survey_staging.sql: the first loaded copy)
{{ survey_answers_first_loaded() }}
