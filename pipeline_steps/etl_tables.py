"""The O*NET ETL's output layout: what the ETL writes and the train branch (PreprocessTrain, Train,
Evaluate) reads, written once.

Under the ETL's output prefix, `titles/` holds one row per accepted (title, occupation) and
`occupations/` one row per accepted occupation. This module imports neither Spark nor pyarrow, so the
ETL on EMR and the processing and training jobs share it.
"""

from __future__ import annotations

# The two datasets, each a folder of Parquet parts under the ETL's output prefix.
TITLES_DATASET = "titles"
OCCUPATIONS_DATASET = "occupations"

ONET_SOC_CODE = "onet_soc_code"
OCCUPATION_TITLE = "occupation_title"  # the O*NET title of the row's occupation
TITLE = "title"
TITLE_NORMALIZED = "title_normalized"
SHORT_TITLE = "short_title"
MAJOR_GROUP = "major_group"  # the first two digits of the code: the label
SOURCE = "source"  # OCCUPATION_TITLE_SOURCE or ALTERNATE_TITLE_SOURCE
SOURCE_FILE = "source_file"
SOURCE_ROW = "source_row"
SOURCE_COUNT = "source_count"  # how many of O*NET's sources list the title: its evidence
DESCRIPTION = "description"

TITLE_COLUMNS = (
    ONET_SOC_CODE,
    OCCUPATION_TITLE,
    TITLE,
    TITLE_NORMALIZED,
    SHORT_TITLE,
    MAJOR_GROUP,
    SOURCE,
    SOURCE_FILE,
    SOURCE_ROW,
    SOURCE_COUNT,
)
OCCUPATION_COLUMNS = (ONET_SOC_CODE, TITLE, DESCRIPTION, MAJOR_GROUP)

# The `source` of a title row: an occupation's own O*NET title, or one of its alternate titles.
OCCUPATION_TITLE_SOURCE = "occupation_title"
ALTERNATE_TITLE_SOURCE = "alternate_title"
