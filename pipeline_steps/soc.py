"""The 23 major groups of the 2018 Standard Occupational Classification, and O*NET-SOC code parsing."""

from __future__ import annotations

import re
from typing import Optional

MAJOR_GROUPS = {
    "11": "Management Occupations",
    "13": "Business and Financial Operations Occupations",
    "15": "Computer and Mathematical Occupations",
    "17": "Architecture and Engineering Occupations",
    "19": "Life, Physical, and Social Science Occupations",
    "21": "Community and Social Service Occupations",
    "23": "Legal Occupations",
    "25": "Educational Instruction and Library Occupations",
    "27": "Arts, Design, Entertainment, Sports, and Media Occupations",
    "29": "Healthcare Practitioners and Technical Occupations",
    "31": "Healthcare Support Occupations",
    "33": "Protective Service Occupations",
    "35": "Food Preparation and Serving Related Occupations",
    "37": "Building and Grounds Cleaning and Maintenance Occupations",
    "39": "Personal Care and Service Occupations",
    "41": "Sales and Related Occupations",
    "43": "Office and Administrative Support Occupations",
    "45": "Farming, Fishing, and Forestry Occupations",
    "47": "Construction and Extraction Occupations",
    "49": "Installation, Maintenance, and Repair Occupations",
    "51": "Production Occupations",
    "53": "Transportation and Material Moving Occupations",
    "55": "Military Specific Occupations",
}

# ASCII digits only: `\d` would also accept other scripts' digits (e.g. "١١-١٠١١.٠٠").
ONET_SOC_CODE = re.compile(r"[0-9]{2}-[0-9]{4}\.[0-9]{2}")

# Rejection reasons for codes (the ETL's quarantine counts rows per reason).
MALFORMED_CODE = "malformed_onet_soc_code"
UNKNOWN_MAJOR_GROUP = "unknown_major_group"


def code_problem(code: Optional[str]) -> Optional[str]:
    """Why `code` is not a usable O*NET-SOC code (e.g. `29-2011.00`), or None when it is."""
    if code is None or not ONET_SOC_CODE.fullmatch(code.strip()):
        return MALFORMED_CODE
    if code.strip()[:2] not in MAJOR_GROUPS:
        return UNKNOWN_MAJOR_GROUP
    return None


def major_group(code: str) -> str:
    """The two-digit major group of a valid O*NET-SOC code; ValueError names the problem otherwise."""
    problem = code_problem(code)
    if problem:
        raise ValueError(f"{problem}: {code!r}")
    return code.strip()[:2]
