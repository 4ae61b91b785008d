{{ indicators_wide('MAT', ['trust_name']) }}
