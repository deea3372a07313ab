"""Masking of personal data for display and logs (脱敏)."""

from __future__ import annotations

import logging

import pytest

from zhili.core.masking import MaskingLogFilter, mask_id_number, mask_name, mask_phone, mask_text


def test_an_id_number_keeps_only_its_first_and_last_four_characters():
    assert mask_id_number("110105199001011234") == "1101**********1234"
    assert mask_id_number("11010519491231002X") == "1101**********002X"


def test_a_short_id_like_value_is_masked_completely():
    assert mask_id_number("12345678") == "********"
    assert mask_id_number("1234") == "****"


@pytest.mark.parametrize("fn", [mask_id_number, mask_phone, mask_name])
def test_an_absent_value_stays_absent(fn):
    assert fn(None) is None
    assert fn("") == ""


def test_a_phone_keeps_its_first_three_and_last_four_digits():
    assert mask_phone("13812345678") == "138****5678"


def test_a_short_phone_like_value_is_masked_completely():
    assert mask_phone("123456") == "******"


def test_a_name_keeps_only_the_surname_character():
    assert mask_name("张三丰") == "张**"
    assert mask_name("欧阳") == "欧*"
    assert mask_name("李") == "李"


def test_mask_text_masks_id_numbers_and_phones_inside_free_text():
    text = "居民张三（身份证330522199003071238，电话13812345678）反映楼道堆物；另一户11010519491231002x。"
    masked = mask_text(text)
    assert "330522199003071238" not in masked and "13812345678" not in masked
    assert "11010519491231002x" not in masked
    assert "3305**********1238" in masked
    assert "138****5678" in masked
    assert "1101**********002x" in masked
    assert masked.startswith("居民张三（身份证")
    assert masked.endswith("反映楼道堆物；另一户1101**********002x。")


def test_mask_text_masks_a_phone_written_next_to_letters_or_punctuation():
    assert mask_text("tel:13812345678;") == "tel:138****5678;"
    assert mask_text("联系人13912345678") == "联系人139****5678"


def test_mask_text_leaves_other_numbers_alone():
    text = ("工单号 202406010001，金额 12345.67 元，座机 0572-6012345，邮编 313100，"
            "数字 12812345678 与 1381234567 及 138123456789，日期 2024-06-01")
    assert mask_text(text) == text


def test_mask_text_is_idempotent():
    once = mask_text("身份证 330522199003071238 电话 13812345678")
    assert mask_text(once) == once


def test_the_logging_filter_masks_personal_data_in_a_formatted_record(caplog):
    logger = logging.getLogger("zhili.tests.masking")
    f = MaskingLogFilter()
    logger.addFilter(f)
    try:
        with caplog.at_level(logging.INFO, logger="zhili.tests.masking"):
            logger.info("登记人员 %s 电话 %s", "330522199003071238", "13812345678")
            logger.info("普通消息 %d 条", 3)
    finally:
        logger.removeFilter(f)
    first, second = caplog.records
    assert first.getMessage() == "登记人员 3305**********1238 电话 138****5678"
    assert "330522199003071238" not in caplog.text and "13812345678" not in caplog.text
    # a record without personal data keeps its message and arguments untouched
    assert second.getMessage() == "普通消息 3 条" and second.args == (3,)


def test_the_logging_filter_never_drops_a_record():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "电话 %s", ("13812345678",), None)
    assert MaskingLogFilter().filter(record) is True
    assert record.getMessage() == "电话 138****5678"
