"""docker's image list (moby's daemon/images/images.go): which images ``images --filter`` and
``GET /images/json?filters=`` show, and under which of their references.

A reference filter (Go's path.Match, as docker's reference.FamiliarMatch) keeps an image with
the references it matched; a dangling image (no tags, no digests) is shown unless
``dangling=false`` or a reference filter asks for names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from hybridock.errors import InvalidFilter, InvalidReference
from hybridock.reference import Reference

if TYPE_CHECKING:
    from hybridock.store.images import ImageRecord

IMAGE_FILTERS = ("dangling", "label", "before", "since", "reference")


class ListedImage(NamedTuple):
    """An image as a listing shows it: the references a reference filter left."""

    image: ImageRecord
    tags: list[Reference]
    digests: list[Reference]

    @property
    def repo_tags(self) -> list[str]:
        return [tag.familiar for tag in self.tags]

    @property
    def repo_digests(self) -> list[str]:
        return [f"{digest.familiar_name}@{digest.digest}" for digest in self.digests]


def _path_match(pattern: str, name: str) -> bool:
    """Go's path.Match, which docker's reference filter uses: * and ? stop at a slash."""
    expression = []
    index = 0
    while index < len(pattern):
        character = pattern[index]
        index += 1
        if character == "*":
            expression.append("[^/]*")
        elif character == "?":
            expression.append("[^/]")
        elif character == "[":
            character_class, index = _character_class(pattern, index)
            expression.append(character_class)
        else:
            if character == "\\":
                character, index = _escaped(pattern, index)
            expression.append(re.escape(character))
    return re.fullmatch("".join(expression), name) is not None


def _escaped(pattern: str, index: int) -> tuple[str, int]:
    if index >= len(pattern):
        raise InvalidReference("syntax error in pattern")
    return pattern[index], index + 1


def _character_class(pattern: str, index: int) -> tuple[str, int]:
    """A path.Match class after its '[': '^'? (c | '\\'c | lo'-'hi)+ ']'."""
    negated = pattern.startswith("^", index)
    index += negated
    ranges: list[str] = []
    while not (ranges and pattern.startswith("]", index)):
        if index >= len(pattern) or pattern[index] in "-]":
            raise InvalidReference("syntax error in pattern")
        low, index = (
            _escaped(pattern, index + 1) if pattern[index] == "\\" else (pattern[index], index + 1)
        )
        high = low
        if pattern.startswith("-", index):
            index += 1
            if index >= len(pattern) or pattern[index] in "-]":
                raise InvalidReference("syntax error in pattern")
            high, index = (
                _escaped(pattern, index + 1)
                if pattern[index] == "\\"
                else (pattern[index], index + 1)
            )
        ranges.append(f"{re.escape(low)}-{re.escape(high)}" if high != low else re.escape(low))
    return f"[{'^' if negated else ''}{''.join(ranges)}]", index + 1


def _reference_matches(patterns: list[str], reference: Reference, familiar: str) -> bool:
    """docker's reference.FamiliarMatch against any of the patterns."""
    return any(
        _path_match(p, familiar) or _path_match(p, reference.familiar_name) for p in patterns
    )


def _labels_match(wanted: list[str], image: ImageRecord) -> bool:
    """docker's MatchKVList: every label= filter, as key or key=value, must hold."""
    config = image.config.get("config")
    labels = config.get("Labels") if isinstance(config, dict) else None
    if not isinstance(labels, dict) or not labels:
        return False
    for item in wanted:
        key, has_value, value = item.partition("=")
        if key not in labels or (has_value and labels[key] != value):
            return False
    return True


def _created(image: ImageRecord) -> float:
    """The image's RFC 3339 ``created`` (nanoseconds allowed) as epoch seconds, 0 for none."""
    if not image.created:
        return 0.0
    from datetime import UTC, datetime  # noqa: PLC0415

    value = image.created.strip().replace("Z", "+00:00")
    if "." in value:  # Python takes at most microseconds
        head, _, tail = value.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        value = f"{head}.{digits[:6]}{tail[len(digits) :]}"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _dangling_only(values: Sequence[str] | None) -> bool:
    if values is None or "true" not in values:
        if values is not None and "false" not in values:
            raise InvalidFilter(f"Invalid filter 'dangling=[{' '.join(values)}]'")
        return False
    return True


def listed_images(
    images: Iterable[ImageRecord],
    filters: Mapping[str, Sequence[str]],
    find: Callable[[str], ImageRecord],
) -> list[ListedImage]:
    """The images ``filters`` keep (``find``: an image by name, for before= and since=);
    an unknown filter is ``InvalidFilter``."""
    for key in filters:
        if key not in IMAGE_FILTERS:
            raise InvalidFilter(f"Invalid filter '{key}'")
    dangling = filters.get("dangling")
    dangling_only = _dangling_only(dangling)
    bounds = {
        key: _created(find(filters[key][-1])) for key in ("before", "since") if key in filters
    }
    patterns = list(filters["reference"]) if "reference" in filters else None
    labels = list(filters.get("label", []))
    listed = []
    for image in images:
        created = _created(image)
        if "before" in bounds and created >= bounds["before"]:
            continue
        if "since" in bounds and created <= bounds["since"]:
            continue
        if labels and not _labels_match(labels, image):
            continue
        tags = [Reference.parse(tag) for tag in image.tags]
        digests = [Reference.parse(reference) for reference in image.repo_digests]
        if patterns is not None:
            tags = [t for t in tags if _reference_matches(patterns, t, t.familiar)]
            digests = [
                d
                for d in digests
                if _reference_matches(patterns, d, f"{d.familiar_name}@{d.digest}")
            ]
        if not tags and not digests:
            if (dangling is not None and not dangling_only) or patterns is not None:
                continue
        elif dangling_only and tags:
            continue
        listed.append(ListedImage(image, tags, digests))
    return listed
