"""Chinese identifier validators: 公民身份号码 (GB 11643), 统一社会信用代码 (GB 32100), mobile numbers."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from zhili.core.errors import ValidationFailed
from zhili.core.validators import (
    birth_date_from_id,
    gender_from_id,
    id_check_digit,
    uscc_check_char,
    validate_credit_code,
    validate_id_number,
    validate_mobile,
)

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def with_check(first17: str) -> str:
    return first17 + id_check_digit(first17)


def assert_refused(exc: pytest.ExceptionInfo[ValidationFailed], code: str) -> None:
    assert exc.value.code == code
    assert exc.value.status == 422
    assert CHINESE.search(exc.value.message), exc.value.message


# -- 公民身份号码 --------------------------------------------------------------------------------------------

# Check digits worked out by hand from the GB 11643 weights (and cross-checked against id_check_digit).
VALID_IDS = [
    "11010519491231002X",  # the standard's own sample, check character X
    "330522199003071238",
    "440304198501010013",
    "33052219880304003X",
]


def test_the_check_digit_follows_gb11643_weights_mod_11():
    assert id_check_digit("11010519491231002") == "X"
    assert id_check_digit("33052219900307123") == "8"
    assert id_check_digit("44030419850101001") == "3"
    # worked example: Σ(digit × weight) mod 11 → "10X98765432"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip("33052219900307123", weights, strict=True))
    assert "10X98765432"[total % 11] == "8"


@pytest.mark.parametrize("number", VALID_IDS)
def test_a_valid_id_number_is_accepted_and_returned_unchanged(number):
    assert validate_id_number(number) == number


def test_a_lowercase_x_check_digit_and_surrounding_spaces_are_normalised():
    assert validate_id_number("  11010519491231002x ") == "11010519491231002X"


def test_a_wrong_check_digit_is_refused_as_a_checksum_error():
    with pytest.raises(ValidationFailed) as exc:
        validate_id_number("330522199003071239")
    assert_refused(exc, "id_number_checksum")


def test_an_x_where_a_digit_check_is_due_is_refused_as_a_checksum_error():
    with pytest.raises(ValidationFailed) as exc:
        validate_id_number("33052219900307123X")
    assert_refused(exc, "id_number_checksum")


@pytest.mark.parametrize("birth", ["19900230", "19900431", "20230229", "19901301", "19900000"])
def test_an_impossible_birth_date_is_refused_even_with_a_correct_check_digit(birth):
    with pytest.raises(ValidationFailed) as exc:
        validate_id_number(with_check("330522" + birth + "123"))
    assert_refused(exc, "id_number_birthdate")


def test_29_february_of_a_leap_year_is_a_valid_birth_date():
    number = with_check("33052220000229123")
    assert validate_id_number(number) == number
    assert birth_date_from_id(number) == dt.date(2000, 2, 29)


def test_a_birth_date_in_the_future_is_refused():
    today = dt.date(2024, 6, 1)
    with pytest.raises(ValidationFailed) as exc:
        validate_id_number(with_check("33052220240602123"), today=today)
    assert_refused(exc, "id_number_birthdate")
    # born today is fine
    assert validate_id_number(with_check("33052220240601123"), today=today)


def test_a_birth_date_before_1880_is_refused():
    with pytest.raises(ValidationFailed) as exc:
        validate_id_number(with_check("33052218791231123"))
    assert_refused(exc, "id_number_birthdate")


@pytest.mark.parametrize("prefix", ["00", "10", "20", "39", "66", "72", "80", "83", "99"])
def test_an_unknown_province_prefix_is_refused(prefix):
    with pytest.raises(ValidationFailed) as exc:
        validate_id_number(with_check(prefix + "052219900307123"))
    assert_refused(exc, "id_number_region")


@pytest.mark.parametrize("prefix", ["11", "33", "65", "71", "81", "82"])
def test_mainland_and_hong_kong_macao_taiwan_prefixes_are_accepted(prefix):
    number = with_check(prefix + "052219900307123")
    assert validate_id_number(number) == number


@pytest.mark.parametrize("value", [
    "",
    "33052219900307123",  # 17 characters
    "3305221990030712388",  # 19 characters
    "330522900307123",  # old 15-digit format
    "33052219900307X238",  # X not in the last position
    "3305221990O307123X",  # letter O in the digits
    "330522-19900307-1238",
    "33０５２２１９８８０３０４００３X",  # full-width digits (would dodge the blind-index uniqueness check)
    "３３０５２２１９９００３０７１２３８",
    "33052219900307123Y",
])
def test_a_malformed_id_number_is_refused_as_a_format_error(value):
    with pytest.raises(ValidationFailed) as exc:
        validate_id_number(value)
    assert_refused(exc, "id_number_format")


def test_birth_date_is_read_from_digits_7_to_14():
    assert birth_date_from_id("11010519491231002X") == dt.date(1949, 12, 31)
    assert birth_date_from_id("330522199003071238") == dt.date(1990, 3, 7)


def test_gender_comes_from_the_17th_digit_odd_male_even_female():
    assert gender_from_id("330522199003071238") == "male"  # 17th digit 3
    assert gender_from_id("11010519491231002X") == "female"  # 17th digit 2
    assert gender_from_id(with_check("33052219900307120")) == "female"  # 0 is even
    assert gender_from_id(with_check("33052219900307129")) == "male"


# -- 统一社会信用代码 ----------------------------------------------------------------------------------------

VALID_USCC = [
    "91350100M000100Y43",
    "91330522MA2B123401",
    "91110000100000000R",
    "12330000MB0000000E",
    "913305220000000020",  # check value 0: (31 - 0) mod 31
]


@pytest.mark.parametrize("code", VALID_USCC)
def test_a_valid_credit_code_is_accepted(code):
    assert uscc_check_char(code[:17]) == code[17]
    assert validate_credit_code(code) == code


def test_a_lowercase_credit_code_is_normalised_to_upper_case():
    assert validate_credit_code(" 91350100m000100y43 ") == "91350100M000100Y43"


@pytest.mark.parametrize("code", ["91350100M000100Y44", "91350100M000100Y4A", "91330522MA2B123402"])
def test_a_credit_code_with_a_wrong_check_character_is_refused(code):
    with pytest.raises(ValidationFailed) as exc:
        validate_credit_code(code)
    assert_refused(exc, "credit_code_checksum")


@pytest.mark.parametrize("letter", ["I", "O", "Z", "S", "V"])
def test_letters_excluded_by_gb32100_are_refused_even_in_the_check_position(letter):
    # in the organisation-code part
    with pytest.raises(ValidationFailed) as exc:
        validate_credit_code(f"91350100M{letter}00100Y43")
    assert_refused(exc, "credit_code_format")
    # as the check character
    with pytest.raises(ValidationFailed) as exc:
        validate_credit_code("91350100M000100Y4" + letter)
    assert_refused(exc, "credit_code_format")


@pytest.mark.parametrize("code", [
    "",
    "91350100M000100Y4",  # 17
    "91350100M000100Y433",  # 19
    "9135010AM000100Y43",  # the administrative-division part must be digits
    "91350100M000100Y4-",
    "9135010０M000100Y43",  # a full-width digit must be a format error, not a crash
])
def test_a_malformed_credit_code_is_refused_as_a_format_error(code):
    with pytest.raises(ValidationFailed) as exc:
        validate_credit_code(code)
    assert_refused(exc, "credit_code_format")


# -- 手机号码 ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    "13812345678", "+8613812345678", "+86 138 1234 5678", "138-1234-5678", "8613812345678", " 138 1234-5678 ",
])
def test_a_mobile_number_is_normalised_to_its_eleven_digits(value):
    assert validate_mobile(value) == "13812345678"


@pytest.mark.parametrize("value", ["19912345678", "16612345678", "14712345678"])
def test_mobile_numbers_from_13_to_19_are_accepted(value):
    assert validate_mobile(value) == value


@pytest.mark.parametrize("value", [
    "0572-6012345",  # landline with area code
    "057226012345",
    "6012345",
    "1381234567",  # 10 digits
    "138123456789",  # 12 digits
    "12812345678",  # 12x is not a mobile prefix
    "10012345678",
    "+85291234567",  # Hong Kong
    "1381234567a",
    "13８12345678",  # full-width digit
    "",
])
def test_a_number_that_is_not_a_mainland_mobile_is_refused(value):
    with pytest.raises(ValidationFailed) as exc:
        validate_mobile(value)
    assert_refused(exc, "mobile_format")
