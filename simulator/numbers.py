"""Generated identifiers and numbers, in the formats the getting-started page shows.

All come from one Faker generator, so a fixed seed reproduces them. Numbers that
are unique in the real system are kept unique here: a clash is drawn again.
"""

from __future__ import annotations

import re
import string
import threading
from collections.abc import Callable
from typing import Any

UPPERCASE = string.ascii_uppercase
MAX_ATTEMPTS = 10
PLACEHOLDERS = re.compile(r"#+|\?+")  # a run of digits or of letters in a ticket number pattern


class NumberClash(Exception):
    """No unique number could be drawn (the real message, raised at issuance)."""

    def __init__(self):
        super().__init__("Unable to generate a unique pre-assigned ticket number after 10 attempts.")


class Numbers:
    def __init__(self, seed: int | str | None = None):
        self._seed = seed
        self._generator: Any = None  # a faker Generator, made when first needed (importing faker is slow)
        self._making = threading.Lock()
        self._used: set[str] = set()

    @property
    def _faker(self):
        """Faker, made on first use: it is slow to import, and start-up should not wait for it."""
        if self._generator is not None:
            return self._generator
        with self._making:
            if self._generator is None:
                from faker import Generator
                from faker.providers import BaseProvider

                generator = Generator()
                generator.add_provider(BaseProvider)
                if self._seed is not None:
                    generator.seed_instance(self._seed)
                self._generator = generator
        return self._generator

    def warm_up(self) -> None:
        """Make the generator now (in the background, once the server listens)."""
        _ = self._faker

    def restart(self, held) -> None:
        """Draw again as after start-up (with a seed, the same numbers in the same order);
        `held` are the numbers stored orders still hold."""
        with self._making:
            if self._seed is not None and self._generator is not None:
                self._generator.seed_instance(self._seed)
            self._used = set(held)

    def reserve(self, values) -> None:
        """Mark numbers already held by stored orders as taken."""
        self._used.update(values)

    def guid(self) -> str:
        """A random (version 4) GUID, lowercase."""
        bits = self._faker.random.getrandbits(128) & ~(0xF000 << 64 | 0xC000 << 48) | (0x4000 << 64 | 0x8000 << 48)
        text = f"{bits:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def hex(self, digits: int) -> str:
        return f"{self._faker.random.getrandbits(4 * digits):0{digits}X}"

    def wallet_reference(self) -> str:
        """An 18-digit wallet reference number, like `141234529930210327`."""
        return self._unique(lambda: str(self._faker.random.randrange(10**17, 10**18)))

    def external_reference(self, wallet_reference: str, taken: Callable[[str], bool]) -> str:
        """A system-generated external reference: `[S][N*1]`, the wallet number plus one digit."""
        return self._unique(lambda: wallet_reference + self._digits(1), taken, widen=True)

    def ticket_number(self, pattern: str) -> str:
        """A ticket number from a pattern (`#` a digit, `?` a letter), like `ATF-BIL010665L-3`."""
        for _ in range(MAX_ATTEMPTS + 1):
            number = PLACEHOLDERS.sub(self._fill, pattern)
            if number not in self._used:
                self._used.add(number)
                return number
        raise NumberClash()

    def _fill(self, run: re.Match) -> str:
        """A run of `#` or `?` of a pattern, filled with as many digits or letters."""
        width = len(run.group())
        if run.group()[0] == "#":
            return self._digits(width)
        return "".join(self._faker.random.choice(UPPERCASE) for _ in range(width))

    def _digits(self, width: int) -> str:
        return f"{self._faker.random.randrange(10**width):0{width}d}"

    def job_id(self) -> str:
        """A ticket-import job id, like `TM-IMPORT-000123`."""
        return self._unique(lambda: f"TM-IMPORT-{self._digits(6)}", widen=True)

    def _unique(self, draw, taken: Callable[[str], bool] = lambda value: False, widen: bool = False) -> str:
        """Draw until the value is new; past MAX_ATTEMPTS a widened draw gets extra digits."""
        attempts = 0
        while True:
            value = draw()
            if widen and attempts >= MAX_ATTEMPTS:
                value += self._digits(attempts // MAX_ATTEMPTS)
            if value not in self._used and not taken(value):
                self._used.add(value)
                return value
            attempts += 1
