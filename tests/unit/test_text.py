"""text: normalization (with abbreviations written out) and title checks, shared by training and prediction."""

from __future__ import annotations

import pytest

from pipeline_steps import text


@pytest.mark.parametrize(
    "title, expected",
    [
        ("Sr. Software Engineer", "senior software engineer"),
        ("Jr Accountant", "junior accountant"),
        ("RN", "registered nurse"),
        ("RN - ICU", "registered nurse icu"),
        ("LPN", "licensed practical nurse"),
        ("CEO", "chief executive officer"),
        ("Asst. Mgr, HR", "assistant manager human resources"),
        ("VP of Ops", "vice president of operations"),
        ("Lab Tech", "lab technician"),
        ("Sales Rep.", "sales representative"),
        ("QA Engineer", "quality assurance engineer"),
    ],
)
def test_abbreviations_are_written_out(title, expected):
    assert text.normalize_title(title) == expected


@pytest.mark.parametrize(
    "title, expected",
    [
        ("IT Analyst", "it analyst"),  # "it" is ambiguous: kept
        ("Technician", "technician"),  # only whole words expand
        ("Sauté Cook", "saute cook"),
        ("C++ Developer", "c++ developer"),
        ("Research & Development Manager", "research and development manager"),
    ],
)
def test_other_words_are_kept(title, expected):
    assert text.normalize_title(title) == expected


def test_abbreviated_and_written_out_titles_normalize_alike():
    assert text.normalize_title("Sr. Mgr") == text.normalize_title("Senior Manager")


def test_expansions_are_normalized_already():
    # An expansion must itself survive normalization unchanged, or training and prediction could differ.
    for short, long in text.ABBREVIATIONS.items():
        assert text.normalize_title(long) == long, short
        assert text.normalize_title(short) == long


@pytest.mark.parametrize("title", [None, "", "   ", "x" * 201, "bad \ufffd byte", "12345", "Nurse", "Sr. RN"])
def test_checked_title_agrees_with_title_problem_and_normalize_title(title):
    problem, normalized = text.checked_title(title)
    assert problem == text.title_problem(title)
    assert normalized == (None if problem else text.normalize_title(title))


@pytest.mark.parametrize(
    "title",
    ["软件工程师", "Программист", "مهندس برمجيات", "Ιατρός", "看護師 2", "Программист 1С"],  # 1С: Cyrillic Es
)
def test_titles_in_a_script_the_model_does_not_know_are_unsupported_script_not_without_letters(title):
    assert text.title_problem(title) == text.UNSUPPORTED_SCRIPT


@pytest.mark.parametrize(
    "title, normalized",
    [("Senior 软件 Engineer", "senior engineer"), ("Программист Java", "java"), ("Café Manager", "cafe manager")],
)
def test_titles_with_a_latin_word_among_other_scripts_are_classified_by_their_latin_words(title, normalized):
    assert text.checked_title(title) == (None, normalized)


@pytest.mark.parametrize("title", ["12345", "+#-/ ()", "\U0001f469\u200d\u2695\ufe0f", "١٢٣"])
def test_titles_without_any_letter_stay_title_without_letters(title):
    assert text.title_problem(title) == text.NO_LETTERS


@pytest.mark.parametrize(
    "title, normalized",
    [
        ("Søren Økonom", "soren okonom"),
        ("Encyclopædia Editor", "encyclopaedia editor"),
        ("Łódź Plant Manager", "lodz plant manager"),
        ("Œuvre Curator", "oeuvre curator"),
        ("Þórr Guide", "thorr guide"),
        ("Straße Cleaner", "strasse cleaner"),
    ],
)
def test_latin_letters_without_an_accent_to_drop_are_written_in_ascii(title, normalized):
    assert text.checked_title(title) == (None, normalized)


def test_every_letter_of_the_latin_alphabets_of_europe_is_read():
    # Latin-1 Supplement and Latin Extended-A: a title of one such letter is a word, not unsupported_script.
    letters = [chr(code) for code in range(0xC0, 0x180) if chr(code).isalpha()]
    unread = [letter for letter in letters if text.title_problem(letter)]
    assert not unread, unread


@pytest.mark.parametrize(
    "title, normalized",
    [
        ("Engi\u00adneer", "engineer"),  # soft hyphen
        ("Soft\u200bware Developer", "software developer"),  # zero-width space
        ("\u202eNurse\u202c", "nurse"),  # right-to-left override and pop
        ("\ufeffRegistered Nurse", "registered nurse"),  # byte order mark
        ("Care\u200dgiver", "caregiver"),  # zero-width joiner
    ],
)
def test_invisible_format_characters_do_not_split_or_add_words(title, normalized):
    assert text.checked_title(title) == (None, normalized)


@pytest.mark.parametrize("title", ["Ɓ", "ʃʃ", "ƐƆ"])
def test_titles_only_in_african_and_phonetic_latin_letters_stay_unsupported_script(title):
    assert text.title_problem(title) == text.UNSUPPORTED_SCRIPT
