"""The SSML subset callers may send, parsed into a flat list of runs and breaks.

Supported: ``<speak>``, ``<break time|strength>``, ``<prosody rate pitch volume>``,
``<phoneme alphabet="py" ph="...">``, ``<say-as interpret-as="digits|telephone|date|
cardinal">``, ``<emotion category intensity>`` and ``<sub alias>``. Text is SSML only
when it starts with ``<speak`` (after whitespace; or with ``<?xml`` / ``<!DOCTYPE``,
which only a document does); anything else is plain text, even with ``<`` in it.
What ``<say-as>`` content is read as comes from `say_as`.

Parsing uses defusedxml: a DTD (and with it every entity definition, the
"billion laughs" and external entities) is refused before anything expands, so a
hostile document is one 400 and never a file read or a memory blow-up. Size is
bounded by the request's text limit and by the element, depth and break limits
below (413 past them).

The element walk is here; what an attribute's value means (durations, rates,
volumes) is `ssml_values`', and the runs, breaks and errors are `ssml_items`'.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from tts.emotions import EMOTIONS

from .say_as import READERS
from .ssml_items import Break, Item, Run, SsmlError, SsmlTooLarge, Style
from .ssml_values import (
    BREAK_STRENGTH_S,
    PITCH_WORDS,
    RATE_WORDS,
    parse_number,
    parse_ratio,
    parse_time,
    parse_volume,
)

MAX_ELEMENTS = 500
MAX_DEPTH = 16
MAX_TOTAL_BREAK_S = 60.0  # all of them in one document
INTENSITY_RANGE = (0.0, 2.0)
RATIO_RANGE = (0.5, 2.0)  # prosody rate and pitch, after nesting
VOLUME_RANGE = (0.0, 4.0)  # linear gain, after nesting (+12 dB)

PHONEME_ALPHABETS = ("py", "pinyin")


_SSML_START = ("<speak", "<?xml", "<!DOCTYPE")


def is_ssml(text: str) -> bool:
    """SSML only when the text starts with <speak (after whitespace). An XML
    declaration or a DOCTYPE in front counts too: such text is a document, and a
    hostile one must be refused, not read out."""
    return text.lstrip().startswith(_SSML_START)


def _local(tag: object) -> str:
    """Tag name without an XML namespace (callers may send xmlns=...synthesis)."""
    name = tag if isinstance(tag, str) else ""
    return name.rsplit("}", 1)[-1]


def parse_ssml(text: str) -> list[Item]:
    """SSML document -> runs and breaks in reading order (raises SsmlError)."""
    # An XML declaration must open the document; whitespace before the root is fine.
    skipped = len(text) - len(text.lstrip()) if text.lstrip().startswith("<?xml") else 0
    document = text[skipped:]
    try:
        root = fromstring(document, forbid_dtd=True, forbid_entities=True,
                          forbid_external=True)
    except ET.ParseError as exc:
        line, column = exc.position  # column counts characters from 0
        line += text[:skipped].count("\n")
        raise SsmlError(f"text is not well-formed SSML at line {line}, column {column + 1}: "
                        f"{_reason(exc)}") from exc
    except DefusedXmlException as exc:
        raise SsmlError("text: SSML must not contain a DTD, entity declarations or external "
                        "references") from exc
    if _local(root.tag) != "speak":
        raise SsmlError(f"text: the SSML root element must be <speak>, not <{_local(root.tag)}>")
    walker = _Walker()
    walker.element(root, Style(), 1)
    return walker.items


def _reason(exc: ET.ParseError) -> str:
    message = str(exc)
    return message.split(":", 1)[0] if ":" in message else message


_SPACE = re.compile(r"\s+")


class _Walker:
    def __init__(self) -> None:
        self.items: list[Item] = []
        self.elements = 0
        self.break_s = 0.0

    def text(self, raw: str | None, style: Style) -> None:
        if raw:
            collapsed = _SPACE.sub(" ", raw)
            if collapsed.strip():
                self.items.append(Run(collapsed, style))

    def element(self, el: ET.Element, style: Style, depth: int) -> None:
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise SsmlTooLarge(f"text: SSML has more than {MAX_ELEMENTS} elements")
        if depth > MAX_DEPTH:
            raise SsmlTooLarge(f"text: SSML nests deeper than {MAX_DEPTH} elements")
        tag = _local(el.tag)
        handler = _HANDLERS.get(tag)
        if handler is None:
            raise SsmlError(f"text: unsupported SSML element <{tag}>; supported: "
                            + ", ".join(f"<{t}>" for t in _HANDLERS))
        handler(self, el, style, depth)

    def children(self, el: ET.Element, style: Style, depth: int) -> None:
        self.text(el.text, style)
        for child in el:
            self.element(child, style, depth + 1)
            self.text(child.tail, style)

    def leaf_text(self, el: ET.Element) -> str:
        """Text content of an element that may not hold other elements."""
        if len(el):
            raise SsmlError(f"text: <{_local(el.tag)}> may hold only text, "
                            f"found <{_local(el[0].tag)}>")
        return _SPACE.sub(" ", el.text or "").strip()

    # -- elements ---------------------------------------------------------------

    def speak(self, el: ET.Element, style: Style, depth: int) -> None:
        if depth > 1:
            raise SsmlError("text: <speak> may only be the root element")
        _allow(el, ("version", "xmlns", "{http://www.w3.org/XML/1998/namespace}lang", "lang"))
        self.children(el, style, depth)

    def brk(self, el: ET.Element, style: Style, depth: int) -> None:
        _allow(el, ("time", "strength"))
        if len(el) or (el.text or "").strip():
            raise SsmlError("text: <break> must be empty")
        time, strength = el.get("time"), el.get("strength")
        if time is not None:
            seconds = parse_time(time)
        elif strength is not None:
            if strength not in BREAK_STRENGTH_S:
                raise SsmlError(f"text: <break strength={strength!r}>: strength must be one of "
                                + ", ".join(BREAK_STRENGTH_S))
            seconds = BREAK_STRENGTH_S[strength]
            if seconds == 0.0:
                return  # strength="none": no break at all
        else:
            seconds = BREAK_STRENGTH_S["medium"]
        self.break_s += seconds
        if self.break_s > MAX_TOTAL_BREAK_S:
            raise SsmlTooLarge(f"text: SSML breaks add up to more than {MAX_TOTAL_BREAK_S:g} s")
        self.items.append(Break(seconds))

    def prosody(self, el: ET.Element, style: Style, depth: int) -> None:
        _allow(el, ("rate", "pitch", "volume"))
        rate, pitch, volume = style.rate, style.pitch, style.volume
        if (value := el.get("rate")) is not None:
            rate *= parse_ratio("rate", value, RATE_WORDS, semitones=False)
        if (value := el.get("pitch")) is not None:
            pitch *= parse_ratio("pitch", value, PITCH_WORDS, semitones=True)
        if (value := el.get("volume")) is not None:
            volume *= parse_volume(value)
        for name, got, (low, high) in (("rate", rate, RATIO_RANGE), ("pitch", pitch, RATIO_RANGE),
                                       ("volume", volume, VOLUME_RANGE)):
            if not low <= got <= high:
                raise SsmlError(f"text: <prosody {name}> comes to {got:.3g} times normal; "
                                f"allowed {low:g} to {high:g}")
        self.children(el, replace(style, rate=rate, pitch=pitch, volume=volume), depth)

    def emotion(self, el: ET.Element, style: Style, depth: int) -> None:
        _allow(el, ("category", "intensity"))
        category = el.get("category")
        if category not in EMOTIONS:
            raise SsmlError(f"text: <emotion category={category!r}>: category must be one of "
                            + ", ".join(EMOTIONS))
        intensity = style.intensity
        if (raw := el.get("intensity")) is not None:
            intensity = parse_number("<emotion intensity>", raw, *INTENSITY_RANGE)
        self.children(el, replace(style, emotion=category, intensity=intensity), depth)

    def phoneme(self, el: ET.Element, style: Style, depth: int) -> None:
        _allow(el, ("alphabet", "ph"))
        alphabet = el.get("alphabet", "py")
        if alphabet not in PHONEME_ALPHABETS:
            raise SsmlError(f"text: <phoneme alphabet={alphabet!r}>: only "
                            + " or ".join(repr(a) for a in PHONEME_ALPHABETS) + " is supported")
        ph = (el.get("ph") or "").strip()
        content = self.leaf_text(el)
        if not ph or not content:
            raise SsmlError("text: <phoneme> needs a ph attribute and text to read")
        syllables = tuple(s.lower().replace("ü", "v").replace("u:", "v")
                          for s in ph.replace(",", " ").split())
        for syl in syllables:
            if not re.fullmatch(r"[a-z]+[1-5]", syl):
                raise SsmlError(f"text: <phoneme ph={ph!r}>: {syl!r} is not pinyin with a "
                                "tone digit 1-5")
        han = [ch for ch in content if "\u4e00" <= ch <= "\u9fff"]
        if len(han) == len(content) and len(han) != len(syllables):
            raise SsmlError(f"text: <phoneme ph={ph!r}> gives {len(syllables)} syllables for "
                            f"{len(content)} characters {content!r}")
        self.items.append(Run(content, style, syllables))

    def say_as(self, el: ET.Element, style: Style, depth: int) -> None:
        _allow(el, ("interpret-as", "format", "detail"))
        kind = el.get("interpret-as")
        if kind not in READERS:
            raise SsmlError(f"text: <say-as interpret-as={kind!r}>: must be one of "
                            + ", ".join(READERS))
        content = self.leaf_text(el)
        try:
            spoken = READERS[kind](content)
        except ValueError as exc:
            raise SsmlError(f"text: <say-as interpret-as={kind!r}>: {exc}") from exc
        self.text(spoken, style)

    def sub(self, el: ET.Element, style: Style, depth: int) -> None:
        _allow(el, ("alias",))
        alias = el.get("alias")
        if alias is None or not alias.strip():
            raise SsmlError("text: <sub> needs a non-empty alias attribute")
        self.leaf_text(el)
        self.text(alias, style)


_HANDLERS = {
    "speak": _Walker.speak,
    "break": _Walker.brk,
    "prosody": _Walker.prosody,
    "emotion": _Walker.emotion,
    "phoneme": _Walker.phoneme,
    "say-as": _Walker.say_as,
    "sub": _Walker.sub,
}


def _allow(el: ET.Element, names: tuple[str, ...]) -> None:
    for name in el.attrib:
        if name not in names:
            raise SsmlError(f"text: <{_local(el.tag)}> has no attribute {_local(name)!r}; "
                            f"allowed: {', '.join(n for n in names if '{' not in n)}")

