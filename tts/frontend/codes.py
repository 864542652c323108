"""Digit strings that are codes, not quantities, found by their context in plain text.

A telephone number, room number, flight or train number, bus line of three or more
digits, verification code or order number is read digit by digit; Mandarin
speakers then say 1 as 幺 (yao1) so that it cannot be heard as 七. The TN grammar
reads such strings as quantities (房间1101 -> 一千一百零一) or even as dates
(取件码1-2-1101), so they are rewritten before it runs. Bus lines of one or two
digits stay numbers (11路 -> 十一路), which is what riders say.

The grammar makes the opposite mistake with the short service numbers (110, 119,
120...): it reads them digit by digit everywhere, so 120瓦 became 幺二零瓦 and 第110名
第幺幺零名. They are hotlines only where the context says so (拨打120, 120急救中心);
elsewhere they are read as the numbers they are.
"""

from __future__ import annotations

import re

from .addresses import read_digit_run

YAO = "幺"

# words after which a digit string is a code of some kind
_CODE_WORDS = (
    "验证码|校验码|动态码|动态密码|密码|取件码|取货码|提货码|取餐码|取餐号|排队号|订单号|订单编号|"
    "运单号|快递单号|物流单号|单号|工号|学号|编号|会员号|卡号|账号|帐号|QQ号|QQ|微信号|邮编|"
    "邮政编码|序列号|车次|航班号|航班|身份证号|证件号|流水号|尾号|房号|房间号|房间|门牌号|宿舍|单元|"
    "电话号码|电话|手机号码|手机号|手机|号码|热线|客服|座机|传真|拨打|致电|呼叫|来电|联系方式"
)
# an optional link word between the context word and the code
_LINK = r"[是为:：\s]{0,3}"
# the code itself: digits, possibly grouped by dashes or single spaces, letters allowed
_CODE = r"(?:\+?86[\s-]?)?[A-Za-z]{0,2}\d(?:[\d-]|\s(?=\d))*\d(?:[A-Za-z])?"
# what may not follow a code (then it was a quantity: 电话费200元 is caught elsewhere)
_NOT_AFTER = r"(?![\d.%‰]|[元块万亿千百个人次岁年月日天倍分秒台部张件条名位]|公里|公斤|小时)"

_AFTER_WORD = re.compile(rf"(?:{_CODE_WORDS}){_LINK}({_CODE}){_NOT_AFTER}")
# numbers that are codes on their own
_MOBILE = re.compile(r"(?<![\d.])(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?![\d.])")
_LANDLINE = re.compile(r"(?<![\d.\-])(?:0\d{2,3}|[48]00)-\d{3,4}-?\d{4}(?![\d.\-])")
_ROOM = re.compile(r"(?<![\d.\-])(\d{3,5})(?=室|号房|房间|会议室|宿舍)")
_BUS = re.compile(r"(?<![\d.\-])(\d{3,4})(?=路(?:公交|汽车|车|电车|巴士|线)?)")
_FLIGHT = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}|[A-Z]\d|\d[A-Z])(\d{3,4})(?![A-Za-z0-9.])")
# Units after which the grammar reads the number right by itself (120km -> 一百二十公里).
_GRAMMAR_UNIT = r"(?:km/h|km|kg|cm|mm|ml|m2|m²|m|L|h|min|s|kW|°|℃)(?![A-Za-z])"
# The short service numbers the grammar always reads digit by digit, and the words
# that make one of them a hotline when they come just before or after it.
_SERVICE = re.compile(rf"(?<![\d.\-])(11[0124]|119|12[02])(?![\d.%‰]|{_GRAMMAR_UNIT})")
_HOTLINE_BEFORE = re.compile(
    r"(?:报警|火警|急救|救护车|拨打|拨|打|致电|呼叫|电话|热线|求救|求助|号码|联系|查号)"
    r"[是为:：\s]{0,3}$")
_HOTLINE_AFTER = re.compile(r"^\s?(?:急救|报警|火警|热线|电话|服务|中心|查号|查询|投诉|举报|"
                            r"平台|客服|求助|求救|救护车|指挥中心)")
_SERVICE_AS_NUMBER = {"110": "一百一十", "111": "一百一十一", "112": "一百一十二",
                      "114": "一百一十四", "119": "一百一十九", "120": "一百二十",
                      "122": "一百二十二"}
_TRAIN = re.compile(r"(?<![A-Za-z0-9])([GDCZTKYL])(\d{1,4})(?=次)")


def read_code(code: str, one: str = YAO) -> str:
    """Digits one by one, dashes as 杠, spaces kept as light breaks, letters kept."""
    code = re.sub(r"^\+?86[\s-]?", "", code) if len(re.sub(r"\D", "", code)) > 11 else code
    out: list[str] = []
    for run in re.findall(r"\d+|[A-Za-z]+|-|\s+", code):
        if run.isdigit():
            out.append(read_digit_run(run, one))
        elif run == "-":
            out.append("杠")
        elif run.isspace():
            out.append(" ")
        else:
            out.append(run)
    return "".join(out)


def read_phone(number: str, one: str = YAO) -> str:
    """A phone number in digit groups (a mobile number 3-4-4), groups split by spaces."""
    digits = re.sub(r"\D", "", number)
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) == 11 and digits[0] == "1":
        groups = [digits[:3], digits[3:7], digits[7:]]
    else:
        groups = [g for g in re.split(r"[\s-]+", number.lstrip("+")) if g]
    return " ".join(read_digit_run(g, one) for g in groups)


def find_codes(text: str, one: str = YAO) -> list[tuple[int, int, str]]:
    """(start, end, spoken) for each code found by its context, in order."""
    spans: list[tuple[int, int, str]] = []

    def add(start: int, end: int, spoken: str) -> None:
        if all(end <= s or start >= e for s, e, _ in spans):
            spans.append((start, end, spoken))

    for m in _MOBILE.finditer(text):
        add(m.start(), m.end(), read_phone(m[0], one))
    for m in _LANDLINE.finditer(text):
        add(m.start(), m.end(), read_phone(m[0], one))
    for m in _AFTER_WORD.finditer(text):
        code = m[1].rstrip()
        if re.fullmatch(r"[\d\s-]+", code) and len(re.sub(r"\D", "", code)) >= 7 \
                and re.search(r"[\s-]", code):
            add(m.start(1), m.start(1) + len(code), read_phone(code, one))
        else:
            add(m.start(1), m.start(1) + len(code), read_code(code, one))
    for m in _ROOM.finditer(text):
        add(m.start(1), m.end(1), read_code(m[1], one))
    for m in _BUS.finditer(text):
        add(m.start(1), m.end(1), read_code(m[1], one))
    for m in _FLIGHT.finditer(text):
        add(m.start(), m.end(), m[1] + read_code(m[2], one))
    for m in _TRAIN.finditer(text):
        add(m.start(), m.end(), m[1] + read_code(m[2], one))
    for m in _SERVICE.finditer(text):
        hotline = (_HOTLINE_BEFORE.search(text, 0, m.start())
                   or _HOTLINE_AFTER.match(text[m.end():]))
        add(m.start(), m.end(), read_code(m[1], one) if hotline else _SERVICE_AS_NUMBER[m[1]])
    return sorted(spans)
