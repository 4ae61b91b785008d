"""Survey exports (Qualtrics, SurveyMonkey, Microsoft Forms, Google Forms, REDCap) -> lake tables.

- `detect_tool(path)` / `sniff(path)`: recognise an export from its headers alone.
- `read_surveys(sources, *, schools, pseudonym_key, settings)` (`read_survey` for one): survey_responses,
  survey_answers and survey_items for each export, the rows of all read column-wise at once, scored against the instrument (ingestion/instruments/*.yaml) whose items
  its columns match; personal data dropped, response ids hashed with the pseudonym key.
- `SchoolRegister` (schools.py): resolves a reported URN through GIAS links.
"""

from ingestion.surveys.formats import TOOLS, detect_tool, parse_export, sniff
from ingestion.surveys.instruments import Instrument, InstrumentError, load_instrument, load_instruments
from ingestion.surveys.reader import academic_year, read_survey, read_surveys, term_of, wave_of
from ingestion.surveys.schools import SchoolRegister

__all__ = [
    "TOOLS",
    "Instrument",
    "InstrumentError",
    "SchoolRegister",
    "academic_year",
    "detect_tool",
    "load_instrument",
    "load_instruments",
    "parse_export",
    "read_survey",
    "read_surveys",
    "sniff",
    "term_of",
    "wave_of",
]
