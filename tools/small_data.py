"""Training data for models/watch-small: a watch assistant that people talk to.

Every prompt carries the watch's whole tool list, or a random subset of it
(1 to all) in random order, as a watch sends it. Requests come from many
phrasings per tool (several word orders each), numbers in digits and in words
over each argument's range, times of day as people say them ("half past
seven", "9 pm", "22:15", "noon"), open-vocabulary names, cities, songs,
labels and messages that the answer copies from the request (most made up
here, so the model must copy spans rather than recall a list), optional
arguments, two calls in one request, and requests that no given tool serves,
whose answer is [] (a request whose tool is left out of the prompt's subset
is one of those).

Conventions the answers follow (the hand-written set in
models/watch-small/handwritten.jsonl is labelled by the same rules, written
independently of this file):
- strings are copied from the request as written (case kept); a leading
  "my" before a relation is dropped ("call my mom" -> "mom"); a message's
  text is what follows "saying", "that", ":" and the like, without it;
- durations are in minutes ("an hour and a half" -> 90); alarm hours are
  0-23 (pm and "in the evening" add 12; "noon" 12, "midnight" 0; a bare
  "seven" is 7);
- two requests joined by "and" give two calls in the order they were said.

Used by tools/train_small.py; the generated held-out set (eval.jsonl) comes
from a seed training never uses.
"""
import random

from tiny_data import TOOLS, BY_NAME, answer_json, tools_json  # noqa: F401  (the 9 tools, unchanged)

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def words(n, rng=None):
    """0..100 in English words ("forty-five", sometimes "forty five")."""
    if n < 20:
        return ONES[n]
    if n > 100:
        return str(n)
    if n == 100:
        return "one hundred" if rng is None or rng.random() < 0.5 else "a hundred"
    t, o = divmod(n, 10)
    if not o:
        return TENS[t]
    sep = "-" if rng is None or rng.random() < 0.6 else " "
    return f"{TENS[t]}{sep}{ONES[o]}"


def num(n, rng, p_words=0.45):
    return words(n, rng) if rng.random() < p_words else str(n)


# --- open vocabularies: real ones and made-up ones (the model must copy) -------

FIRST = ["Alice", "Bob", "Carol", "Dan", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Oscar",
         "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Wendy", "Aisha", "Bilal", "Chen", "Dmitri", "Elena",
         "Fatima", "Gustavo", "Hana", "Ibrahim", "Jin", "Kofi", "Leila", "Mateo", "Nadia", "Omar", "Priya",
         "Quentin", "Ravi", "Sofia", "Tomas", "Uma", "Valentina", "Wei", "Ximena", "Yusuf", "Zara", "Liam",
         "Olivia", "Noah", "Emma", "Ava", "Lucas", "Mia", "Ethan", "Chloe", "Arjun", "Sakura", "Kwame",
         "Ingrid", "Pierre", "Giulia", "Sven", "Niamh", "Siobhan", "Tariq", "Mei", "Juan", "Lars", "Anya",
         "Jack", "Sarah", "Michael", "Jessica", "David", "Laura", "James", "Kate", "Tom", "Lucy", "Max", "Nina"]
SURNAMES = ["Smith", "Johnson", "Garcia", "Nguyen", "Kim", "Patel", "Müller", "Rossi", "Okafor", "Silva",
            "Kowalski", "Tanaka", "O'Brien", "Haddad", "Jensen", "Dubois", "Lee", "Brown", "Martinez", "Cohen"]
RELATIONS = ["mom", "dad", "mum", "grandma", "grandpa", "my wife", "my husband", "my sister", "my brother",
             "my boss", "my son", "my daughter", "mom", "dad", "my mom", "my dad", "aunt Rosa", "uncle Joe",
             "the office", "my doctor", "my partner", "my friend Sam"]
SYL = ["ka", "ri", "lo", "ven", "tha", "mor", "zel", "qui", "dan", "bri", "os", "el", "ya", "nik", "tor",
       "sha", "mi", "ru", "pel", "gan", "vo", "li", "sen", "dra", "ul", "fen", "ko", "ba", "ze", "hal"]


ONSETS = ["b", "br", "c", "ch", "cl", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "kn", "l", "m", "n", "p",
          "pl", "qu", "r", "s", "sh", "sk", "st", "t", "th", "tr", "v", "w", "wh", "y", "z", "", ""]
VOWELS = ["a", "e", "i", "o", "u", "a", "e", "i", "o", "ou", "ea", "ai", "oo", "ie", "y", "au"]
CODAS = ["", "", "", "n", "r", "l", "s", "t", "ck", "m", "nd", "rt", "gh", "x", "ng", "th", "w", "b", "k"]
# common words for open-vocabulary spans (messages, songs, labels, places)
WORDS = """time day night home work school car bus train door key phone book table chair water coffee tea milk
bread cheese apple orange lemon sugar salt rice soup cake pie dinner lunch breakfast party game movie show song
music band guitar piano drum river lake sea beach hill mountain forest tree flower garden park street road bridge
city town village station airport hotel office shop market bank church kitchen window garage roof floor wall
light dark red blue green yellow black white silver golden little big small old new young happy sad quick slow
early late soon later tomorrow tonight morning evening weekend monday friday summer winter spring autumn rain snow
sun moon star wind storm cloud fire stone glass paper box bag coat shirt shoes hat ring letter card gift ticket
money plan idea story dream heart love friend family baby kids dog cat horse bird fish chicken beef pasta pizza
meeting doctor dentist class homework project report email photo picture video news call help bring take make
buy sell pick drop leave stay wait meet come go run walk drive fly read write cook clean wash fix check send find
keep give tell ask need want like miss call back forgot remember ready done there here now again still maybe
really very just only also never always sorry thanks please okay sure great fine good bad nice hot cold warm
tired hungry busy free open closed broken lost found safe almost already together alone outside inside upstairs
downstairs near far left right first second last next every other""".split()


ACCENTED = "éáóíúüöäåøñãçèôëï"


def pseudo(rng, lo=1, hi=3):
    """A made-up word no list holds: the model can only copy it. One in ten
    has a letter outside ASCII (byte-fallback tokens, as "Rós" or "Zoë")."""
    w = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
                for _ in range(rng.randint(lo, hi))) or "zo"
    if rng.random() < 0.1:
        i = rng.randrange(len(w))
        w = w[:i] + rng.choice(ACCENTED) + w[i + 1:]
    return w


def made_up(rng, lo=2, hi=3):
    if rng.random() < 0.5:
        return "".join(rng.choice(SYL) for _ in range(rng.randint(lo, hi))).capitalize()
    return pseudo(rng, 1, hi + 1).capitalize()


def phrase(rng, lo=1, hi=4):
    """Common words (now and then a made-up one or a number) in a random order."""
    out = []
    for _ in range(rng.randint(lo, hi)):
        r = rng.random()
        out.append(rng.choice(WORDS) if r < 0.85 else pseudo(rng) if r < 0.95 else str(rng.randint(1, 99)))
    return " ".join(out)


def person(rng):
    r = rng.random()
    if r < 0.28:
        name = rng.choice(FIRST)
    elif r < 0.55:
        name = made_up(rng, 1, 4)
    elif r < 0.68:
        name = f"{rng.choice(FIRST + [made_up(rng)])} {rng.choice(SURNAMES + [made_up(rng, 1, 4)])}"
    elif r < 0.72:
        name = f"{rng.choice(FIRST + [made_up(rng)])}-{rng.choice(FIRST + [made_up(rng)])}"
    elif r < 0.8:
        name = f"{rng.choice(['Dr.', 'Dr', 'Mr.', 'Mrs.', 'Ms.', 'Uncle', 'Aunt', 'Grandma', 'Coach'])} " \
               f"{rng.choice(SURNAMES + FIRST + [made_up(rng, 1, 4)])}"
    else:
        name = rng.choice(RELATIONS)
    if rng.random() < 0.25:
        name = name.lower()
    said = name
    if name.startswith("my ") and name.split()[1] in ("wife", "husband", "sister", "brother", "boss", "son",
                                                     "daughter", "mom", "dad", "doctor", "partner"):
        name = name[3:]
    elif name in ("mom", "dad", "mum", "grandma", "grandpa") and rng.random() < 0.3:
        said = "my " + name
    return said, name


CITIES = ["Paris", "London", "Tokyo", "Berlin", "Madrid", "Lagos", "Lima", "Oslo", "Seoul", "Cairo", "Boston",
          "Denver", "Sydney", "Mumbai", "Zurich", "Austin", "New York", "San Francisco", "Los Angeles",
          "Rio de Janeiro", "Buenos Aires", "Mexico City", "Cape Town", "Hong Kong", "Kuala Lumpur", "Tel Aviv",
          "Salt Lake City", "São Paulo", "Reykjavik", "Nairobi", "Hanoi", "Dublin", "Edinburgh", "Chicago",
          "Toronto", "Vancouver", "Montreal", "Istanbul", "Athens", "Rome", "Vienna", "Prague", "Warsaw",
          "Stockholm", "Helsinki", "Lisbon", "Barcelona", "Amsterdam", "Brussels", "Munich", "Delhi",
          "Bangalore", "Karachi", "Dhaka", "Jakarta", "Manila", "Bangkok", "Singapore", "Beijing", "Shanghai",
          "Osaka", "Melbourne", "Auckland", "Santiago", "Bogotá", "Havana", "Seattle", "Portland", "Miami",
          "Atlanta", "Phoenix", "Dallas", "Houston", "Nashville", "New Orleans", "St. Louis", "Kyiv", "Dubai",
          "Doha", "Riyadh", "Tehran", "Baghdad", "Addis Ababa", "Accra", "Dakar", "Casablanca", "Tunis"]
PLACE_WORDS = ["Port", "San", "New", "North", "Lake", "Fort", "Mount", "East", "West", "Saint", "Santa", "Glen"]
PLACE_SUFFIX = ["Falls", "Springs", "Bay", "City", "Heights", "Valley", "Beach", "Harbor", "Creek", "Hills"]


def city(rng):
    r = rng.random()
    if r < 0.45:
        c = rng.choice(CITIES)
    elif r < 0.72:
        c = made_up(rng, 1, 4)
    elif r < 0.86:
        c = f"{rng.choice(PLACE_WORDS)} {made_up(rng, 1, 3)}"
    else:
        c = f"{made_up(rng, 1, 3)} {rng.choice(PLACE_SUFFIX)}"
    return c.lower() if rng.random() < 0.2 else c


GENRES = ["jazz", "rock", "lofi", "lo-fi beats", "classical", "hip hop", "pop", "country", "blues", "reggae",
          "techno", "house music", "metal", "punk", "folk", "soul", "funk", "disco", "k-pop", "salsa",
          "ambient", "rain sounds", "white noise", "piano music", "workout music", "relaxing music",
          "chill music", "90s hits", "christmas songs", "podcasts", "the news"]
ARTISTS = ["Miles Davis", "Beethoven", "the Beatles", "Daft Punk", "Adele", "Taylor Swift", "Queen",
           "Bob Marley", "Radiohead", "Beyoncé", "Mozart", "Nina Simone", "Fela Kuti", "BTS", "Coldplay",
           "Kendrick Lamar", "ABBA", "Billie Eilish", "Johnny Cash", "Björk", "Drake", "Shakira", "Bach"]
SONG_WORDS = ["love", "night", "summer", "river", "blue", "heart", "fire", "dance", "golden", "moon",
              "dream", "road", "rain", "wild", "home", "light", "city", "forever", "lonely", "stars",
              "ocean", "midnight", "sugar", "thunder", "paper", "silver", "yesterday", "sunshine", "ghost"]


def song(rng):
    return " ".join(rng.choice(SONG_WORDS) for _ in range(rng.randint(1, 3))).title()


def music_query(rng):
    r = rng.random()
    if r < 0.2:
        return rng.choice(GENRES)
    if r < 0.37:
        return rng.choice(ARTISTS)
    if r < 0.52:
        return " ".join(made_up(rng, 1, 3) for _ in range(rng.randint(1, 3)))
    if r < 0.62:
        return song(rng)
    if r < 0.8:
        t = phrase(rng, 1, 4)
        return t.title() if rng.random() < 0.6 else t
    if r < 0.88:
        return f"{phrase(rng, 1, 2)} {rng.choice(['music', 'songs', 'beats', 'radio', 'jazz', 'rock', 'pop'])}"
    return f"{rng.choice([song(rng), phrase(rng, 1, 3).title()])} by " \
           f"{rng.choice(ARTISTS + [made_up(rng), 'the ' + made_up(rng) + 's'])}"


LABELS = ["tea", "pasta", "laundry", "eggs", "pizza", "break", "nap", "rice", "bread", "oven", "cookies",
          "parking", "meditation", "homework", "roast", "coffee", "stretching", "kids", "plank",
          "medicine", "soup", "steak", "popcorn", "cake", "bus", "study", "reading", "dog", "brownies"]


def make_label(rng):
    r = rng.random()
    if r < 0.4:
        return rng.choice(LABELS)
    if r < 0.7:
        return phrase(rng, 1, 3)
    if r < 0.85:
        return pseudo(rng, 1, 3)
    return f"{rng.choice(FIRST + [made_up(rng)])}'s {phrase(rng, 1, 2)}"
TASKS = ["check the oven", "take the pizza out", "call mom", "move the car", "stretch", "drink water",
         "flip the steak", "take my pills", "stir the soup", "check the laundry", "leave for the bus",
         "feed the cat", "turn off the stove", "pick up the kids", "water the plants", "stand up"]
MESSAGES = ["I'm running late", "on my way", "see you soon", "call me back", "dinner is ready", "I am home",
            "the meeting moved to noon", "happy birthday", "thanks", "leaving now", "where are you", "good night",
            "I love you", "can you pick up milk", "be there in ten minutes", "running 5 minutes late",
            "don't forget the keys", "I'll call you later", "the train is delayed", "let's meet at the cafe",
            "good luck today", "I'm stuck in traffic", "sorry I missed your call", "what time is dinner",
            "miss you", "bring an umbrella", "the package arrived", "I'm at the gym", "see you at 7",
            "can we talk tonight", "lunch tomorrow?", "congrats on the new job", "feel better soon",
            "I'm outside", "the door is open", "save me a seat", "almost done", "yes", "no thanks", "ok"]
MSG_WORDS = ["pick", "up", "the", "kids", "at", "school", "buy", "some", "bread", "meet", "me", "outside",
             "bring", "charger", "call", "when", "free", "lunch", "is", "ready", "park", "near", "station",
             "game", "starts", "soon", "tickets", "are", "booked", "check", "your", "email", "dog", "walked"]


def message_text(rng):
    r = rng.random()
    if r < 0.45:
        return phrase(rng, 2, 8)
    r = rng.random()
    if r < 0.45:
        t = rng.choice(MESSAGES)
    elif r < 0.75:
        t = rng.choice(["pick up", "don't forget", "please bring", "can you grab", "remember"]) + " " + \
            rng.choice(["milk", "the bread", "my charger", "the tickets", "some eggs", made_up(rng).lower(),
                        "the kids", "flowers", "the mail"])
    elif r < 0.88:
        t = rng.choice(["I'll be there at", "meet me at", "the game starts at", "dinner at", "call me at"]) + \
            " " + str(rng.choice([5, 6, 7, 8, 9, 10, 11, 12])) + rng.choice(["", " pm", "pm", ":30"])
    else:
        t = " ".join(rng.choice(MSG_WORDS) for _ in range(rng.randint(2, 6)))
    return t


VERBS = {"set", "start", "play", "put", "turn", "call", "text", "send", "tell", "let", "wake", "give", "message",
         "track", "log", "begin", "record", "make", "change", "adjust", "lower", "raise", "switch", "enable",
         "disable", "ring", "phone", "dial", "count", "remind", "alert", "shuffle", "queue", "listen", "check",
         "get", "go", "reply", "write", "shoot", "activate", "deactivate", "stop", "kill", "shut", "mute", "place",
         "video"}


def polite(q, rng, suffix=True):
    """Ways people wrap a request: "can you" and "I want to" only before a
    verb; no words after it where they would read as part of a copied message."""
    r = rng.random()
    if not suffix and r >= 0.7:
        r = rng.random() * 0.7
    if q.split()[0] not in VERBS and (0.45 <= r < 0.6 or r >= 0.85):
        r = rng.choice([0.1, 0.65, 0.75])
    if r < 0.45:
        pass
    elif r < 0.6:
        q = rng.choice(["please ", "can you ", "could you ", "would you ", "could you please ", "can you please "]) + q
    elif r < 0.7:
        q = rng.choice(["hey ", "hey watch, ", "ok ", "hi, ", "yo ", "quick, "]) + q
    elif r < 0.85:
        q = q + rng.choice([" please", " thanks", " now", " for me", " please thanks", " right now"])
    else:
        q = rng.choice(["I want to ", "I'd like to ", "I need to ", "let's "]) + q if rng.random() < 0.3 else \
            rng.choice(["hey ", "please "]) + q + rng.choice([" please", ""])
    return q


def finish(q, rng):
    """Case and punctuation as people type or a recogniser writes them."""
    r = rng.random()
    if r < 0.25:
        q = q[:1].upper() + q[1:]
    if rng.random() < 0.25:
        q += rng.choice([".", "!", "?", " ."])
    return q


# --- one request per tool: (query, name, args, politeable) --------------------

def _duration(rng):
    """(words for a duration, minutes)."""
    r = rng.random()
    if r < 0.55:
        m = rng.choice(list(range(1, 61)) + [5, 10, 15, 20, 25, 30, 45] * 4 + [75, 90, 100, 120, 150, 180])
        if m == 1 and rng.random() < 0.5:
            return rng.choice(["a minute", "one minute", "1 minute"]), 1
        unit = rng.choice(["minutes", "minutes", "minutes", "min", "mins", "minute"]) if m != 1 else "minute"
        return f"{num(m, rng)} {unit}", m
    if r < 0.7:
        h = rng.choice([1, 1, 1, 2, 2, 3])
        if h == 1:
            return rng.choice(["an hour", "one hour", "1 hour", "1 hr", "a full hour"]), 60
        return f"{num(h, rng)} {rng.choice(['hours', 'hours', 'hrs'])}", 60 * h
    if r < 0.8:
        return rng.choice([("half an hour", 30), ("a half hour", 30), ("quarter of an hour", 15),
                           ("a quarter hour", 15), ("an hour and a half", 90), ("one and a half hours", 90),
                           ("1.5 hours", 90), ("two and a half hours", 150), ("a couple of minutes", 2),
                           ("a couple minutes", 2)])
    h = rng.choice([1, 1, 2])
    m = rng.choice([5, 10, 15, 20, 30, 40, 45])
    hw = rng.choice(["an hour", "one hour", "1 hour"]) if h == 1 else f"{num(h, rng)} hours"
    return f"{hw} {rng.choice(['and ', ''])}{num(m, rng)} minutes", 60 * h + m


def _timer(rng):
    d, m = _duration(rng)
    label = None
    if rng.random() < 0.35:
        label = make_label(rng)
    forms = [f"set a timer for {d}", f"timer for {d}", f"{d} timer", f"start a {d} timer",
             f"set a {d} timer", f"count down {d}", f"countdown {d}", f"remind me in {d}",
             f"start a timer for {d}", f"put a timer on for {d}", f"set timer {d}", f"timer {d}",
             f"give me {d}", f"let me know in {d}", f"alert me in {d}", f"time {d}"]
    if label is None:
        q = rng.choice(forms)
    else:
        lf = rng.choice([f"{rng.choice(forms)} for the {label}", f"{rng.choice(forms)} for {label}",
                         f"{rng.choice(forms)} called {label}", f"{rng.choice(forms)} labeled {label}",
                         f"{label} timer for {d}", f"set a {label} timer for {d}",
                         f"set a timer for the {label} for {d}", f"timer for {label}, {d}",
                         f"set a timer for {d} named {label}"])
        q = lf
        label = label
    if label is None and rng.random() < 0.12:
        label = rng.choice(TASKS)
        q = rng.choice([f"remind me in {d} to {label}", f"in {d} remind me to {label}",
                        f"set a timer for {d} to {label}"])
    args = {"minutes": m}
    if label is not None:
        args["label"] = label
    return q, "set_timer", args, True


def _time_of_day(rng):
    """(words for a time of day, hour 0-23, minute)."""
    r = rng.random()
    h = rng.randrange(24)
    mi = rng.choice([0] * 6 + [15, 30, 45] * 2 + list(range(0, 60, 5)) + list(range(60)))
    h12, pm = (h % 12 or 12), h >= 12
    if r < 0.2:                                     # 24-hour clock
        return (f"{h:02d}:{mi:02d}" if rng.random() < 0.6 else f"{h}:{mi:02d}"), h, mi
    if r < 0.5:                                     # am / pm
        suffix = rng.choice(["am", "a.m.", "AM", " am", " a.m.", " in the morning"]) if not pm else \
            rng.choice(["pm", "p.m.", "PM", " pm", " p.m.", " in the evening", " tonight"])
        if pm and h >= 18 and "evening" not in suffix and rng.random() < 0.2:
            suffix = " at night"
        if not pm and h < 5 and "morning" in suffix:
            suffix = " am"
        sep = "" if suffix[0] != " " and rng.random() < 0.5 else ""
        core = str(h12) if mi == 0 and rng.random() < 0.7 else f"{h12}:{mi:02d}"
        if suffix[0] != " " and rng.random() < 0.5:
            suffix = " " + suffix
        return f"{core}{sep}{suffix}", h, mi
    if r < 0.72:                                    # quarter past / half past / quarter to
        h = rng.randrange(1, 13)
        n = rng.choice([5, 10, 15, 20, 25, 30, 15, 30])
        direction = rng.choice(["past", "to", "to", "after"]) if n != 30 else "past"
        nw = {15: "quarter", 30: "half"}.get(n) if rng.random() < 0.85 else None
        nw = nw or (words(n, rng) if rng.random() < 0.7 else str(n))
        if rng.random() < 0.2 and n not in (15, 30):
            nw += " minutes"
        kind = f"{nw} {direction}"
        hw = num(h, rng, 0.7)
        mins = n if direction != "to" else 60 - n
        hour = h - 1 if kind.endswith(" to") else h
        if hour == 0:
            hour = 12
        tail = ""
        if rng.random() < 0.3:
            tail, hour = rng.choice([(" in the morning", hour % 12), (" pm", hour % 12 + 12),
                                     (" in the evening", hour % 12 + 12)]
                                    + ([(" tonight", hour % 12 + 12)] if 6 <= hour <= 11 else []))
        return f"{kind} {hw}{tail}", hour, mins
    if r < 0.88:                                    # words: "seven thirty", "six o'clock"
        h = rng.randrange(1, 13)
        mi = rng.choice([0, 0, 15, 30, 45, 10, 20, 40, 50, 5])
        if mi == 0:
            core = rng.choice([f"{words(h)} o'clock", f"{words(h)}", f"{h} o'clock"])
        else:
            mw = f"oh {words(mi)}" if mi < 10 else words(mi, rng)
            core = f"{words(h)} {mw}"
        tail, hour = "", h
        if rng.random() < 0.45:
            tail, hour = rng.choice([(" am", h % 12), (" pm", h % 12 + 12), (" in the morning", h % 12),
                                     (" in the evening", h % 12 + 12), (" at night", h % 12 + 12)
                                     if 7 <= h <= 11 else (" pm", h % 12 + 12),
                                     (" tonight", h % 12 + 12) if 6 <= h <= 11 else (" am", h % 12)])
        return core + tail, hour, mi
    return rng.choice([("noon", 12, 0), ("midnight", 0, 0), ("12 noon", 12, 0), ("midday", 12, 0)])


def _alarm(rng):
    t, h, mi = _time_of_day(rng)
    when = rng.choice(["", "", "", "tomorrow ", "tomorrow morning ", "on monday "]) if h < 12 else ""
    forms = [f"wake me up at {t}", f"set an alarm for {t}", f"alarm at {t}", f"set alarm {t}",
             f"alarm for {t}", f"set an alarm at {t}", f"wake me at {t}", f"I need to get up at {t}",
             f"set my alarm to {t}", f"{t} alarm", f"get me up at {t}", f"alarm {t}",
             f"wake me {when}at {t}", f"set an alarm {when}for {t}", f"make an alarm for {t}"]
    return rng.choice(forms).replace("  ", " "), "set_alarm", {"hour": h, "minute": mi}, True


def _message(rng):
    said, to = person(rng)
    text = message_text(rng)
    if rng.random() < 0.3:
        text = text.lower()
    forms = [f"text {said} {text}", f"text {said} that {text}", f"send {said} a message saying {text}",
             f"send a message to {said} saying {text}", f"message {said}: {text}", f"tell {said} {text}",
             f"tell {said} that {text}", f"send {said} a text: {text}", f"let {said} know {text}",
             f"let {said} know that {text}", f"text {said} and say {text}", f"write to {said}: {text}",
             f"send a text to {said}: {text}", f"shoot {said} a message that {text}",
             f"message {said} saying {text}", f"send {said} \"{text}\"", f"text {said} \"{text}\"",
             f"send a text to {said} that says {text}", f"reply to {said} with {text}",
             f"send a message to {said}: {text}", f"text to {said}: {text}"]
    return rng.choice(forms), "send_message", {"to": to, "text": text}, "prefix"


def _call(rng):
    said, name = person(rng)
    forms = [f"call {said}", f"phone {said}", f"ring {said}", f"give {said} a call", f"dial {said}",
             f"call {said} now", f"make a call to {said}", f"start a call with {said}", f"get {said} on the phone",
             f"call {said} on speaker", f"I want to talk to {said}", f"video call {said}", f"place a call to {said}"]
    return rng.choice(forms), "call_contact", {"name": name}, True


def _weather(rng):
    c = city(rng)
    when = rng.choice(["", "", "", " today", " tomorrow", " this weekend", " tonight", " right now",
                       " on friday", " this week"])
    forms = [f"what's the weather in {c}{when}", f"weather in {c}{when}", f"weather {c}", f"{c} weather{when}",
             f"will it rain in {c}{when}", f"how hot is it in {c}{when}", f"how cold is it in {c}{when}",
             f"forecast for {c}{when}", f"what's the forecast for {c}{when}", f"is it sunny in {c}{when}",
             f"do I need an umbrella in {c}{when}", f"what is the temperature in {c}{when}",
             f"will it snow in {c}{when}", f"how's the weather in {c}{when}", f"weather forecast {c}",
             f"what's it like outside in {c}", f"is it going to rain in {c}{when}", f"check the weather in {c}",
             f"tell me the weather for {c}{when}", f"give me the {c} forecast",
             f"what is the weather in {c}{when}", f"what is the weather like in {c}{when}",
             f"what's the weather like in {c}{when}", f"what will the weather be in {c}{when}",
             f"what will the weather be like in {c}{when}", f"what is the forecast for {c}{when}",
             f"how's the weather looking in {c}{when}", f"how is the weather in {c}{when}",
             f"is it cold in {c}{when}", f"is it going to be hot in {c}{when}", f"weather report for {c}{when}",
             f"get me the weather in {c}", f"show me the weather for {c}{when}", f"{c} forecast{when}",
             f"how warm is it in {c}{when}", f"what's the temperature like in {c}{when}"]
    if when.strip() and rng.random() < 0.2:
        forms.append(f"what's the weather{when} in {c}")
    return rng.choice(forms), "get_weather", {"city": c}, rng.random() < 0.5


WORKOUT_WORDS = {
    "run": ["start a run", "go for a run", "track my run", "start running", "log a run", "I'm going for a run",
            "begin a running workout", "start a jog", "I'm going jogging", "track a jog", "running workout",
            "record my run", "start an outdoor run", "let's go running", "start my run"],
    "walk": ["start a walk", "track my walk", "going for a walk", "start walking", "log a walk",
             "begin a walking workout", "record my walk", "walking workout", "start a walk workout",
             "I'm heading out for a walk", "track this walk"],
    "swim": ["start a swim", "track my swim", "log a swim", "going swimming", "start swimming",
             "begin a swim workout", "pool swim", "record my swim", "swimming workout", "start a pool workout"],
    "cycle": ["start a bike ride", "track my ride", "start cycling", "going cycling", "log a bike ride",
              "begin a cycling workout", "record my bike ride", "cycling workout", "start a ride",
              "I'm going for a bike ride", "track cycling", "start a cycle workout"],
    "yoga": ["start yoga", "begin a yoga session", "track my yoga", "yoga workout", "start a yoga workout",
             "log yoga", "time for yoga", "record a yoga session", "let's do some yoga", "start my yoga"],
}


def _workout(rng):
    kind = rng.choice(list(WORKOUT_WORDS))
    return rng.choice(WORKOUT_WORDS[kind]), "start_workout", {"kind": kind}, True


def _music(rng):
    g = music_query(rng)
    forms = [f"play {g}", f"put on {g}", f"I want to hear {g}", f"play some {g}", f"can you play {g}",
             f"play me some {g}", f"start playing {g}", f"put on some {g}", f"play {g} on spotify",
             f"listen to {g}", f"I wanna listen to {g}", f"shuffle {g}", f"music: {g}", f"queue up {g}",
             f"play the song {g}", f"play a little {g}"]
    return rng.choice(forms), "play_music", {"query": g}, True


def _volume(rng):
    r = rng.random()
    if r < 0.15:
        q, v = rng.choice([("mute", 0), ("mute the sound", 0), ("turn the sound off", 0), ("volume off", 0),
                           (f"mute {rng.choice(['the watch', 'it', 'everything', 'the speaker', 'all sound'])}", 0),
                           (f"{rng.choice(['sound', 'speaker', 'volume'])} to {rng.choice(['zero', '0'])}", 0),
                           ("max volume", 100), ("full volume", 100), ("volume all the way up", 100),
                           ("turn it all the way up", 100), ("half volume", 50), ("volume to half", 50)])
        return q, "set_volume", {"level": v}, True
    v = rng.choice(list(range(0, 101)) + list(range(0, 101, 10)) * 3 + [25, 75] * 2)
    vw = num(v, rng)
    pct = rng.choice(["", "", " percent", "%", " %"]) if vw.isdigit() else rng.choice(["", " percent"])
    forms = [f"set volume to {vw}{pct}", f"volume {vw}{pct}", f"change the volume to {vw}{pct}",
             f"turn the volume to {vw}{pct}", f"volume at {vw}{pct}", f"make the volume {vw}{pct}",
             f"set the volume at {vw}{pct}", f"turn it up to {vw}{pct}", f"turn it down to {vw}{pct}",
             f"volume level {vw}", f"put the volume on {vw}{pct}", f"set the speaker to {vw}{pct}",
             f"adjust volume to {vw}{pct}", f"lower the volume to {vw}{pct}", f"raise the volume to {vw}{pct}",
             f"set the sound to {vw}{pct}", f"sound at {vw}{pct}", f"turn the sound up to {vw}{pct}",
             f"turn the sound down to {vw}{pct}", f"speaker volume {vw}{pct}"]
    return rng.choice(forms), "set_volume", {"level": v}, True


LIGHT_ON = ["turn on the flashlight", "flashlight on", "torch on", "I need some light", "switch on the torch",
            "turn the flashlight on", "light please", "it's dark", "turn on the torch", "flashlight please",
            "enable the flashlight", "switch the flashlight on", "can I get some light", "turn the light on",
            "I can't see anything", "activate flashlight"]
LIGHT_OFF = ["turn off the flashlight", "flashlight off", "torch off", "switch the light off",
             "turn the flashlight off", "kill the light", "switch off the torch", "disable the flashlight",
             "turn off the torch", "no more light", "lights off", "stop the flashlight", "turn the light off",
             "deactivate flashlight", "shut off the flashlight"]


def _light(rng):
    on = rng.random() < 0.5
    return rng.choice(LIGHT_ON if on else LIGHT_OFF), "toggle_flashlight", {"on": on}, True


MAKERS = [_timer, _alarm, _message, _call, _weather, _workout, _music, _volume, _light]

# --- requests no watch tool serves (answer []), some close to one that does ---
NO_TOOL = [
    "tell me a joke", "who won the world cup in 1998", "what time is it", "what's the date today",
    "turn on do not disturb", "enable do not disturb", "turn on airplane mode", "set brightness to 50",
    "make the screen brighter", "turn on wifi", "turn off bluetooth", "how many steps have I taken",
    "what's my heart rate", "how did I sleep", "open the camera", "take a picture", "navigate home",
    "directions to the airport", "how far is the moon", "what is the capital of France",
    "who wrote Hamlet", "how tall is the Eiffel tower", "translate hello to Spanish", "what's 15 times 7",
    "convert 5 miles to kilometers", "what's the battery level", "how are you", "hello", "thanks", "good morning",
    "good night", "what can you do", "who are you", "never mind", "cancel", "stop", "nothing", "yes", "no",
    "lock my phone", "find my phone", "order a pizza", "book a table for two", "add milk to my shopping list",
    "what's on my calendar", "schedule a meeting", "read my messages", "any new emails", "check my email",
    "how much is a bitcoin", "what's the stock price of apple", "who is the president", "define serendipity",
    "spell necessary", "flip a coin", "roll a die", "what time is sunset", "when is sunrise",
    "what's the population of Tokyo", "how far is Paris from London", "what time is it in London",
    "who is Miles Davis", "what year did the Beatles break up", "how long is a marathon",
    "how many calories in an apple", "open settings", "show my photos", "take a screenshot", "restart the watch",
    "turn on the heater", "lock the front door", "start the car", "is the store open", "recommend a movie",
    "what's a good book", "sing me a song", "how do I make pasta", "what's the recipe for pancakes",
    "pause", "next song", "skip this track", "turn on night mode", "switch to dark mode", "update the software",
    "how old is the universe", "what's the meaning of life", "are you listening", "I'm bored", "I'm tired",
    "what should I eat", "when is my next meeting", "remind me to buy milk", "change the watch face",
    "turn on the tv", "what's the news", "how is traffic", "where is my car", "pair my headphones",
    "what's the wifi password", "call of duty", "play a game", "track my sleep", "measure my blood oxygen",
    "how high is Mount Everest", "who won the game last night", "what's the score", "open maps",
    "show me the weather map", "is it a holiday today", "what day is it", "count to ten", "what's two plus two",
    "set a reminder", "delete my last message", "share my location", "send an email to my boss",
    "buy tickets to the concert", "what is 7 pm in Tokyo time", "how many minutes in an hour",
]
NO_TOOL_WORDS = ["the", "a", "my", "watch", "phone", "please", "what", "is", "how", "when", "why", "who",
                 "today", "tomorrow", "song", "light", "time", "minutes", "message", "call", "weather", "blue",
                 "banana", "table", "green", "quickly", "seven", "later", "again", "maybe"]


APPS = ["camera", "maps", "settings", "the calendar", "my email", "the browser", "spotify settings", "notes",
        "the app store", "my photos", "the calculator", "wallet"]


def _near_miss(rng):
    """Requests that sound like a tool's but that no watch tool serves."""
    said, _ = person(rng)
    return rng.choice([
        f"send an email to {said}", f"email {said} about {phrase(rng, 1, 3)}", f"send {said} an email",
        f"connect to {rng.choice(['wifi', 'bluetooth', 'my headphones', 'the car', 'the tv', pseudo(rng)])}",
        f"open {rng.choice(APPS)}", f"close {rng.choice(APPS)}", f"navigate to {city(rng)}",
        f"directions to {rng.choice(['the ' + rng.choice(WORDS), city(rng)])}", f"who is {said}",
        f"what's the population of {city(rng)}", f"how far is {city(rng)}", f"what time is it in {city(rng)}",
        f"add {phrase(rng, 1, 2)} to my shopping list", f"remind me to {phrase(rng, 1, 3)}",
        f"schedule a meeting with {said}", f"book a {rng.choice(['table', 'taxi', 'flight', 'hotel'])}",
        f"order {phrase(rng, 1, 2)}", f"translate {phrase(rng, 1, 3)} to {rng.choice(['French', 'Spanish'])}",
        f"what does {pseudo(rng)} mean", f"who sings {song(rng)}", f"how do I {phrase(rng, 1, 3)}",
        rng.choice(["thanks", "thank you", "ok", "cool", "great"]) + ", " +
        rng.choice(["that is all", "that's all", "bye", "never mind", "good job"]),
        f"turn on {rng.choice(['do not disturb', 'airplane mode', 'wifi', 'bluetooth', 'the lights in the kitchen', 'power saving'])}",
        f"set {rng.choice(['brightness', 'the screen', 'the thermostat', 'the heating'])} to {rng.randint(1, 90)}",
        f"is {said} {rng.choice(['home', 'awake', 'online', 'busy'])}", f"where is {said}",
    ])


def _no_tool(rng):
    r = rng.random()
    if r < 0.35:
        return _near_miss(rng)
    r = rng.random()
    if r < 0.8:
        q = rng.choice(NO_TOOL)
    elif r < 0.9:
        q = " ".join(rng.choice(NO_TOOL_WORDS) for _ in range(rng.randint(1, 6)))
    else:
        q = rng.choice(["what is ", "who is ", "where is ", "tell me about ", "how big is ", "define "]) + \
            rng.choice([made_up(rng), city(rng), rng.choice(ARTISTS), rng.choice(FIRST)])
    return q


CONTRACTIONS = [("what's ", "what is "), ("how's ", "how is "), ("it's ", "it is "), ("I'm ", "I am "),
                ("I'd ", "I would "), ("let's ", "let us "), ("don't ", "do not "), ("that's ", "that is ")]


def recontract(q, args, rng):
    """Spell contractions out or in (people and recognisers do both), unless
    that would change a string the answer copies from the request."""
    for short, long in CONTRACTIONS:
        if rng.random() < 0.5:
            continue
        a, b = (short, long) if rng.random() < 0.7 else (long, short)
        for cased_a, cased_b in ((a, b), (a.capitalize(), b.capitalize())):
            new = q.replace(cased_a, cased_b)
            if all(v in new for v in args.values() if isinstance(v, str)):
                q = new
    return q


def one_call(rng):
    q, name, args, can_wrap = rng.choice(MAKERS)(rng)
    if can_wrap:
        q = polite(q, rng, suffix=can_wrap != "prefix")
    if rng.random() < 0.3:
        q = recontract(q, args, rng)
    order = list(BY_NAME[name]["parameters"])
    return q, {"name": name, "arguments": {k: args[k] for k in order if k in args}}


def request(rng):
    """(query, [calls])."""
    r = rng.random()
    if r < 0.15:
        return finish(_no_tool(rng), rng), []
    if r < 0.25:
        (q1, c1), (q2, c2) = one_call(rng), one_call(rng)
        while c2["name"] == c1["name"]:
            q2, c2 = one_call(rng)
        q2 = q2.removeprefix("please ").removeprefix("hey ")
        joint = rng.choice([" and ", " and then ", ", then ", " and also ", ", and ", ". also "])
        return finish(q1 + joint + q2, rng), [c1, c2]
    q, c = one_call(rng)
    return finish(q, rng), [c]


def example(rng, whole_list=None):
    """One example: query, the tools in its prompt, the expected calls. The
    prompt holds the whole list (in the file's order or shuffled) or a random
    subset of 1..all; a call whose tool the prompt lacks is not made (a
    request left with no call answers [])."""
    q, calls = request(rng)
    whole = rng.random() < 0.5 if whole_list is None else whole_list
    if whole:
        tools = list(TOOLS)
        if rng.random() < 0.6:
            rng.shuffle(tools)
    else:
        need = [BY_NAME[c["name"]] for c in calls]
        n = rng.randint(1, len(TOOLS))
        if rng.random() < 0.8:
            others = [t for t in TOOLS if t not in need]
            tools = need + rng.sample(others, max(0, min(len(others), n - len(need))))
        else:
            tools = rng.sample(TOOLS, n)
        rng.shuffle(tools)
    names = {t["name"] for t in tools}
    return {"query": q, "tools": tools, "answer": [c for c in calls if c["name"] in names]}


def dataset(n, seed, whole_list=None):
    rng = random.Random(seed)
    return [example(rng, whole_list) for _ in range(n)]
