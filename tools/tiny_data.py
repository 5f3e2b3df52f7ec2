"""Synthetic tool-calling data for thimble's own small model (watch-tiny).

A watch assistant's tools, queries from templates with paraphrases and
numbers in digits or words, and the answer each query should get. Used by
tools/train_tiny.py; the committed eval set (models/watch-tiny/eval.jsonl)
comes from here with a seed the training set never uses.
"""
import json
import random

TOOLS = [
    {"name": "set_timer", "description": "Start a countdown timer",
     "parameters": {"minutes": {"type": "integer", "description": "minutes", "required": True},
                    "label": {"type": "string", "description": "what the timer is for", "required": False}}},
    {"name": "set_alarm", "description": "Set an alarm at a time of day",
     "parameters": {"hour": {"type": "integer", "description": "hour, 0-23", "required": True},
                    "minute": {"type": "integer", "description": "minute, 0-59", "required": True}}},
    {"name": "send_message", "description": "Send a text message to a contact",
     "parameters": {"to": {"type": "string", "description": "contact name", "required": True},
                    "text": {"type": "string", "description": "message body", "required": True}}},
    {"name": "call_contact", "description": "Phone a contact",
     "parameters": {"name": {"type": "string", "description": "contact name", "required": True}}},
    {"name": "get_weather", "description": "Weather forecast for a city",
     "parameters": {"city": {"type": "string", "description": "city name", "required": True}}},
    {"name": "start_workout", "description": "Start tracking a workout",
     "parameters": {"kind": {"type": "string", "description": "run, walk, swim, cycle or yoga",
                             "required": True}}},
    {"name": "play_music", "description": "Play music",
     "parameters": {"query": {"type": "string", "description": "artist, song or genre", "required": True}}},
    {"name": "set_volume", "description": "Set the speaker volume",
     "parameters": {"level": {"type": "integer", "description": "0-100", "required": True}}},
    {"name": "toggle_flashlight", "description": "Turn the flashlight on or off",
     "parameters": {"on": {"type": "boolean", "description": "true to turn on", "required": True}}},
]

NUM_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
             "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
             "nineteen", "twenty"]
TENS = {30: "thirty", 40: "forty", 50: "fifty"}
NAMES = ["Anna", "Ben", "Carla", "David", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kai", "Lena",
         "Mia", "Noah", "Olga", "Pablo", "Rosa", "Sam", "Tara", "Yuki", "mom", "dad"]
CITIES = ["Paris", "London", "Tokyo", "Berlin", "Madrid", "Lagos", "Lima", "Oslo", "Seoul", "Cairo",
          "Boston", "Denver", "Sydney", "Mumbai", "Zurich", "Austin"]
TEXTS = ["running late", "on my way", "see you soon", "call me back", "dinner is ready", "I am home",
         "meeting moved to noon", "happy birthday", "thanks", "leaving now", "where are you", "good night"]
LABELS = ["tea", "pasta", "laundry", "eggs", "pizza", "break", "nap", "rice", "workout", "bread"]
GENRES = ["jazz", "lofi", "rock", "Miles Davis", "Beethoven", "pop", "the Beatles", "rain sounds",
          "Daft Punk", "classical", "hip hop", "Adele"]
WORKOUTS = ["run", "walk", "swim", "cycle", "yoga"]


def number_text(n, rng):
    """n in digits or words, whichever the coin says."""
    if rng.random() < 0.5:
        return str(n)
    if n <= 20:
        return NUM_WORDS[n]
    if n in TENS:
        return TENS[n]
    if n < 60 and n % 10 and n // 10 * 10 in TENS or 20 < n < 30:
        tens = 20 if n < 30 else n // 10 * 10
        return f"{TENS.get(tens, 'twenty')}-{NUM_WORDS[n % 10]}" if n % 10 else TENS.get(tens, "twenty")
    return str(n)


def _timer(rng):
    m = rng.choice([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15, 20, 25, 30, 40, 45, 50])
    if m == 30 and rng.random() < 0.3:
        q, args = rng.choice(["set a timer for half an hour", "half an hour timer please"]), {"minutes": 30}
    else:
        w = number_text(m, rng)
        unit = "minute" if m == 1 else "minutes"
        q = rng.choice([f"set a timer for {w} {unit}", f"timer {w} {unit}", f"start a {w} minute timer",
                        f"count down {w} {unit}", f"remind me in {w} {unit}"])
        args = {"minutes": m}
    if rng.random() < 0.35:
        label = rng.choice(LABELS)
        q += rng.choice([f" for the {label}", f" for {label}"])
        args["label"] = label
    return q, "set_timer", args


def _alarm(rng):
    h = rng.randrange(0, 24)
    mi = rng.choice([0, 0, 0, 15, 30, 45, 5, 10, 20])
    if h == 0 or rng.random() < 0.4:
        t = f"{h:02d}:{mi:02d}"
    else:
        h12, ampm = (h - 12 if h > 12 else h), ("pm" if h >= 12 else "am")
        t = f"{h12}{ampm}" if mi == 0 else f"{h12}:{mi:02d} {ampm}"
    q = rng.choice([f"wake me up at {t}", f"set an alarm for {t}", f"alarm at {t}", f"set alarm {t}"])
    return q, "set_alarm", {"hour": h, "minute": mi}


def _message(rng):
    to, text = rng.choice(NAMES), rng.choice(TEXTS)
    q = rng.choice([f"text {to} {text}", f"send {to} a message saying {text}", f"tell {to} {text}",
                    f"message {to}: {text}"])
    return q, "send_message", {"to": to, "text": text}


def _call(rng):
    n = rng.choice(NAMES)
    return rng.choice([f"call {n}", f"phone {n}", f"ring {n}", f"give {n} a call"]), "call_contact", {"name": n}


def _weather(rng):
    c = rng.choice(CITIES)
    q = rng.choice([f"what's the weather in {c}", f"weather {c}", f"will it rain in {c}",
                    f"how hot is it in {c} today", f"forecast for {c}"])
    return q, "get_weather", {"city": c}


def _workout(rng):
    k = rng.choice(WORKOUTS)
    noun = {"run": "a run", "walk": "a walk", "swim": "a swim", "cycle": "a bike ride", "yoga": "yoga"}[k]
    q = rng.choice([f"start {noun}", f"track my {k}", f"begin {k} workout", f"log {noun}"])
    return q, "start_workout", {"kind": k}


def _music(rng):
    g = rng.choice(GENRES)
    return rng.choice([f"play {g}", f"put on some {g}", f"I want to hear {g}"]), "play_music", {"query": g}


def _volume(rng):
    v = rng.choice([0, 10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 100])
    q = rng.choice([f"set volume to {v}", f"volume {v}", f"change the volume to {v} percent"])
    return q, "set_volume", {"level": v}


def _light(rng):
    on = rng.random() < 0.5
    q = rng.choice(["turn on the flashlight", "flashlight on", "I need some light"] if on else
                   ["turn off the flashlight", "flashlight off", "switch the light off"])
    return q, "toggle_flashlight", {"on": on}


MAKERS = [_timer, _alarm, _message, _call, _weather, _workout, _music, _volume, _light]
BY_NAME = {t["name"]: t for t in TOOLS}


def tools_json(tools):
    return json.dumps(tools, separators=(",", ":"), ensure_ascii=False)


def answer_json(calls):
    return json.dumps(calls, separators=(",", ":"), ensure_ascii=False)


def example(rng):
    """One example: query, the tools in its prompt (2-4, the right one among
    them, random order), the expected calls."""
    q, name, args = rng.choice(MAKERS)(rng)
    others = [t for t in TOOLS if t["name"] != name]
    tools = rng.sample(others, rng.randint(1, 3)) + [BY_NAME[name]]
    rng.shuffle(tools)
    order = list(BY_NAME[name]["parameters"])
    call = {"name": name, "arguments": {k: args[k] for k in order if k in args}}
    return {"query": q, "tools": tools, "answer": [call]}


def dataset(n, seed):
    rng = random.Random(seed)
    return [example(rng) for _ in range(n)]
