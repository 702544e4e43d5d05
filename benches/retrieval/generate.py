#!/usr/bin/env python3
"""Generates the retrieval-quality benchmark's dataset (issue #18), deterministically.

Each conversation is a chat between two recurring people over a year of sessions (2025 and 2026).
Their lives are storylines: a pet, a job and a change of job, a move, a hobby, trips, family news, a
diet, a car, concerts, an injury, books, studies, tastes.
A storyline says things in one or two sessions, often with a reaction of the other person; small
talk fills each session as distractors.
Questions are written about the storylines in other words than the turns that answer them:

- single-fact: one turn answers it;
- temporal: when something happened (the answer is the session's date), or what happened in a
  named month or season (the turn's date, not its words, narrows it down);
- multi-hop: two turns are needed (the sister introduced in one session, her news in another;
  the city lived in before a move);
- open-domain: the turn plus world knowledge (the country of a city, what a diet rules out);
- adversarial: about something never said (a topic never raised, or a fact of the other
  person); they have no evidence.

Every turn and question comes from the seeded generator, so the same seed writes the same bytes.
Standard library only.

    python3 benches/retrieval/generate.py            # writes dataset.json and dataset-small.json
    python3 benches/retrieval/generate.py --check    # fails when the committed files differ
"""

import argparse
import datetime
import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (name, pronoun set). Every person appears in one conversation of a dataset only.
PEOPLE = [
    ("Maria", "f"), ("Tom", "m"), ("Priya", "f"), ("Jonas", "m"), ("Aisha", "f"), ("Marcus", "m"),
    ("Elena", "f"), ("Daniel", "m"), ("Sofia", "f"), ("Kenji", "m"), ("Hannah", "f"), ("Luca", "m"),
    ("Fatima", "f"), ("Oliver", "m"), ("Chloe", "f"), ("Rafael", "m"), ("Ingrid", "f"), ("Samuel", "m"),
    ("Nadia", "f"), ("Victor", "m"), ("Grace", "f"), ("Mateo", "m"), ("Yara", "f"), ("Felix", "m"),
    ("Leila", "f"), ("Owen", "m"), ("Camille", "f"), ("Diego", "m"), ("Anika", "f"), ("Henrik", "m"),
    ("Rosa", "f"), ("Tariq", "m"), ("Julia", "f"), ("Ethan", "m"), ("Mei", "f"), ("Bruno", "m"),
    ("Clara", "f"), ("Isaac", "m"), ("Zoe", "f"), ("Nikolai", "m"),
]
PRONOUNS = {"f": ("she", "her", "her"), "m": ("he", "his", "him")}
SIBLINGS = {
    "f": ["Lena", "Martha", "Ruby", "Alice", "Tessa", "Nora", "Ivy", "Esther"],
    "m": ["Leo", "Simon", "Adam", "Theo", "Max", "Hugo", "Noah", "Arthur"],
}
FRIENDS = ["Ben", "Lucy", "Omar", "Kate", "Raj", "Sara", "Pete", "Mira", "Joel", "Tina", "Ravi", "Ana"]

# (city, country, what one says about it when living there)
HOME_CITIES = [
    ("Manchester", "England", "Rain again, the third week in a row"),
    ("Rotterdam", "the Netherlands", "The wind off the harbour nearly took my bike away this morning"),
    ("Denver", "the United States", "We had snow in the morning and sunshine by lunch, classic"),
    ("Lyon", "France", "The market by the river was packed today"),
    ("Toronto", "Canada", "The lake was frozen at the edges when I walked to work"),
    ("Melbourne", "Australia", "Four seasons in one day here, I carry a jacket everywhere"),
    ("Hamburg", "Germany", "The fish market at six in the morning is an experience"),
    ("Glasgow", "Scotland", "The drizzle here never really stops"),
    ("Austin", "the United States", "It was thirty-eight degrees today, I basically lived in the pool"),
    ("Bristol", "England", "The hills here are killing my calves on the commute"),
]
MOVE_CITIES = [
    ("Lisbon", "Portugal", "a view of the river and the old tram line"),
    ("Vancouver", "Canada", "mountains right behind the building"),
    ("Copenhagen", "Denmark", "a canal right outside the window"),
    ("Edinburgh", "Scotland", "the castle visible from the kitchen"),
    ("Barcelona", "Spain", "a tiny terrace with orange trees below"),
    ("Seattle", "the United States", "a glimpse of the sound between two towers"),
    ("Wellington", "New Zealand", "the harbour right at the end of the street"),
    ("Vienna", "Austria", "a bakery on the ground floor, dangerous"),
    ("Dublin", "Ireland", "the sea a ten-minute walk away"),
    ("Montreal", "Canada", "an outdoor staircase that will be fun in winter"),
]
# (city, country, a sight or food of it, said after the trip)
TRIPS = [
    ("Kyoto", "Japan", "we got up at five to walk the bamboo grove before the crowds"),
    ("Marrakech", "Morocco", "the spice souk was the loudest, most colourful place I've ever been"),
    ("Reykjavik", "Iceland", "we sat in a geothermal lagoon while it snowed on our heads"),
    ("Buenos Aires", "Argentina", "we ate steak at midnight and watched tango in the street"),
    ("Hanoi", "Vietnam", "I had pho for breakfast every single day and regret nothing"),
    ("Cape Town", "South Africa", "the cable car up Table Mountain was terrifying and worth it"),
    ("Istanbul", "Turkey", "we took a ferry across the Bosphorus at sunset"),
    ("Naples", "Italy", "the pizza there ruined every other pizza for me"),
    ("Oaxaca", "Mexico", "we learned to make mole from a grandmother in her kitchen"),
    ("Edinburgh", "Scotland", "we climbed Arthur's Seat in sideways rain"),
    ("Santorini", "Greece", "the white houses on the cliff glowed at sunset"),
    ("Seoul", "South Korea", "we ate barbecue in a tiny place under a railway bridge"),
    ("Quebec City", "Canada", "the old town looked like a Christmas card"),
    ("Prague", "the Czech Republic", "the astronomical clock drew a crowd every hour"),
]
# (role, industry, employer)
JOBS = [
    ("data analyst", "tech", "Northwind Analytics"),
    ("pediatric nurse", "healthcare", "St. Agnes Children's Hospital"),
    ("sous chef", "restaurants", "Brasserie Colette"),
    ("high school chemistry teacher", "education", "Riverside Academy"),
    ("UX designer", "tech", "Pixelforge"),
    ("structural engineer", "construction", "Halden & Moss"),
    ("paralegal", "law", "Brennan Whitlock LLP"),
    ("physiotherapist", "healthcare", "MoveWell Clinic"),
    ("marketing coordinator", "advertising", "Bright Lantern Media"),
    ("veterinary technician", "animal care", "Greenfield Animal Clinic"),
    ("backend developer", "tech", "Cobalt Systems"),
    ("museum curator", "the arts", "the Harbour Museum"),
    ("accountant", "finance", "Keller Tax Partners"),
    ("air traffic controller", "aviation", "the regional airport"),
]
PETS = [
    ("dog", "puppy", "beagle"), ("dog", "puppy", "corgi"), ("dog", "puppy", "border collie"),
    ("dog", "puppy", "dachshund"), ("dog", "puppy", "labrador"), ("cat", "kitten", "tabby"),
    ("cat", "kitten", "Maine Coon"), ("cat", "kitten", "Siamese"),
]
PET_NAMES = ["Biscuit", "Pepper", "Miso", "Juniper", "Pickle", "Waffles", "Olive", "Mango", "Nacho", "Pumpkin",
             "Ziggy", "Maple", "Otis", "Luna", "Bean"]
PET_INCIDENTS = [
    ("ate half a box of crayons, so we spent the evening at the emergency vet",
     "Why did {P}'s {kind} have to see an animal doctor?", "it ate crayons"),
    ("got stung on the nose by a wasp and swelled up like a balloon, the vet gave a shot",
     "What injury did {P}'s {kind} need treatment for?", "a wasp sting on the nose"),
    ("swallowed a hair tie and needed a little surgery, all fine now",
     "What operation did {P}'s {kind} go through?", "surgery to remove a swallowed hair tie"),
    ("cut a paw on broken glass in the park and had to get three stitches",
     "How did {P}'s {kind} get hurt?", "cut a paw on glass in the park"),
]
CARS = ["Toyota Corolla", "Volkswagen Golf", "Honda Civic", "Skoda Octavia", "Mazda 3", "Kia Niro", "Renault Zoe"]
COLOURS = ["dark green", "bright red", "silver", "navy blue", "white", "mustard yellow"]
# (band, genre)
BANDS = [
    ("Radiohead", "alternative rock"), ("Metallica", "heavy metal"), ("Taylor Swift", "pop"),
    ("Daft Punk", "electronic"), ("Norah Jones", "jazz"), ("Kendrick Lamar", "hip hop"),
    ("Arctic Monkeys", "indie rock"), ("Dolly Parton", "country"), ("Coldplay", "pop rock"),
    ("The Chemical Brothers", "electronic"), ("Adele", "pop"), ("Bon Iver", "indie folk"),
]
# (title, author)
BOOKS = [
    ("The Remains of the Day", "Kazuo Ishiguro"), ("Piranesi", "Susanna Clarke"), ("Dune", "Frank Herbert"),
    ("Normal People", "Sally Rooney"), ("The Road", "Cormac McCarthy"), ("Circe", "Madeline Miller"),
    ("Project Hail Mary", "Andy Weir"), ("Beloved", "Toni Morrison"), ("Middlemarch", "George Eliot"),
    ("The Secret History", "Donna Tartt"),
]
# (field, university)
STUDIES = [
    ("urban planning", "the University of Leeds"), ("public health", "McGill"), ("marine biology", "Aberdeen"),
    ("data science", "TU Delft"), ("architecture", "the Bartlett"), ("social work", "Trinity College"),
    ("nutrition", "King's College"), ("computer science", "ETH Zurich"),
]
SPORT_INJURIES = [
    ("twisted my knee landing badly on the volleyball court", "knee", "playing volleyball"),
    ("fractured my wrist falling off my bike on the wet cobbles", "wrist", "falling off a bike"),
    ("tore a calf muscle sprinting for the bus, of all things", "calf", "running for a bus"),
    ("dislocated my shoulder on a ski run, the slope was pure ice", "shoulder", "skiing"),
]

# Hobbies: (name, first turn, later turn, questions). Question tuples are
# (category, text, answer, which turns: "a" the first, "b" the later one).
HOBBIES = [
    ("pottery",
     "I signed up for a wheel-throwing course at the ceramics studio near me, my first bowl looked like a pancake.",
     "Finally got my glazed mugs out of the kiln, they came out a lovely speckled blue.",
     [("single-fact", "What craft involving clay did {P} take up?", "pottery", "a"),
      ("single-fact", "What did {P} end up making that turned out a blue colour?", "speckled blue mugs", "b"),
      ("temporal", "When did {P} start learning to make ceramics?", None, "a")]),
    ("bouldering",
     "Went to the climbing gym with {F} on Saturday, my forearms are completely destroyed.",
     "I sent my first V4 problem! Took three weeks of falling off the same move.",
     [("single-fact", "Which sport did {P} try at an indoor wall with {F}?", "climbing (bouldering)", "a"),
      ("single-fact", "What grade of route did {P} finally complete?", "a V4", "b"),
      ("temporal", "When did {P} go rock climbing for the first time?", None, "a")]),
    ("sourdough",
     "My starter is alive! Feeding it flour and water twice a day like a little pet.",
     "Baked a loaf with a proper open crumb at last, the crust crackled as it cooled.",
     [("single-fact", "What kind of bread has {P} been trying to bake?", "sourdough", "a"),
      ("single-fact", "How did {P}'s best homemade bread turn out?", "open crumb and a crackling crust", "b"),
      ("temporal", "When did {P} begin baking bread at home?", None, "a")]),
    ("salsa",
     "Went to a beginners' salsa night and stepped on my partner's feet about forty times.",
     "Our dance group performed at the street festival and I only missed one turn!",
     [("single-fact", "What style of dancing is {P} learning?", "salsa", "a"),
      ("single-fact", "Where did {P}'s dance class give a performance?", "at the street festival", "b"),
      ("temporal", "When did {P} attend a dance lesson for the first time?", None, "a")]),
    ("chess",
     "Joined the chess club at the library and got crushed by a ten year old.",
     "Won my first rated tournament game, a long endgame with a rook and two pawns.",
     [("single-fact", "Which board game club did {P} join?", "chess", "a"),
      ("single-fact", "How did {P} win a competitive game?", "in a long rook endgame", "b"),
      ("temporal", "When did {P} lose to a child at a library club?", None, "a")]),
    ("cello",
     "Rented a cello and booked weekly lessons, my neighbours are being very patient.",
     "Played a Bach minuet at the student recital without stopping once!",
     [("single-fact", "What instrument is {P} learning?", "the cello", "a"),
      ("single-fact", "Which composer's piece did {P} perform on stage?", "Bach", "b"),
      ("temporal", "When did {P} start taking music lessons?", None, "a")]),
    ("watercolour",
     "Picked up a set of watercolours and I've been painting the view from my window every morning.",
     "One of my paintings of the harbour got picked for a small gallery show downtown.",
     [("single-fact", "What kind of art has {P} been doing in the mornings?", "watercolour painting", "a"),
      ("single-fact", "Where was {P}'s artwork exhibited?", "a small gallery show downtown", "b"),
      ("temporal", "When did {P} get into painting?", None, "a")]),
    ("japanese",
     "Started evening classes in Japanese, hiragana is fine but kanji is brutal.",
     "Passed the JLPT N5! Small step, but I'm proud of it.",
     [("single-fact", "Which writing system does {P} find hardest in class?", "kanji", "a"),
      ("open-domain", "Which country's language has {P} been studying?", "Japan", "a"),
      ("temporal", "When did {P} pass a language proficiency test?", None, "b")]),
    ("gardening",
     "Planted tomatoes, basil and chillies on the allotment this weekend.",
     "The allotment gave us so many tomatoes I made twenty jars of sauce.",
     [("single-fact", "What vegetables and herbs did {P} grow?", "tomatoes, basil and chillies", "a"),
      ("single-fact", "What did {P} do with the harvest from the garden plot?", "made twenty jars of sauce", "b"),
      ("open-domain", "Does {P} have access to a piece of land for growing food?", "yes, an allotment", "a")]),
    ("running",
     "Signed up for the autumn half marathon, so training starts now, three runs a week.",
     "Crossed the finish line of the half in 1:58, my legs are jelly.",
     [("single-fact", "What race is {P} preparing for?", "a half marathon", "a"),
      ("single-fact", "How long did the 21 km race take {P}?", "1:58", "b"),
      ("temporal", "When did {P} complete the long-distance run?", None, "b")]),
]

# Small talk: {slots} are filled from SMALL_TALK, so it seldom repeats word for word (the store keeps one
# memory per content, and real chats rarely say the same sentence twice).
SMALL_TALK = {
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "dish": ["a lentil curry", "mushroom risotto", "fish tacos", "a giant pot of chilli", "pancakes", "ramen",
             "a tray of roast vegetables", "shakshuka", "leftover pizza", "a very sad salad", "dumplings",
             "spaghetti carbonara"],
    "verdict": ["not bad at all", "a bit too salty", "honestly restaurant level", "edible, just about",
                "my best one yet", "burnt on one side"],
    "show": ["a cooking competition", "that detective series everyone talks about", "an old sitcom",
             "a nature documentary about octopuses", "a baking show", "a true crime podcast", "a Korean drama",
             "the football highlights", "a space documentary"],
    "weather": ["pouring down", "weirdly warm", "foggy all day", "freezing", "windy enough to lose an umbrella",
                "grey and drizzly", "gorgeous and sunny", "humid and sticky"],
    "thing": ["the washing machine", "the boiler", "my laptop charger", "the kitchen tap", "the doorbell",
              "the car radio", "my headphones", "the printer"],
    "meeting": ["a two-hour", "a three-hour", "an all-afternoon", "a pointless", "a surprise", "a back-to-back"],
    "errand": ["pick up a parcel", "get my hair cut", "do the big shop", "return some shoes", "go to the bank",
               "drop off the recycling", "get the bike fixed"],
    "snack": ["crisps", "chocolate biscuits", "an entire bag of grapes", "popcorn", "toast with jam", "olives"],
}
GREETINGS = [
    ("Hey {Q}! How's your {day} going?", "Slowly! You?"),
    ("Hey {Q}! How's your week been?", "Hectic but good! You?"),
    ("Hi! Long time no talk, what's new?", "Oh, plenty, where do I start."),
    ("Morning! Got a minute to catch up?", "Always, coffee in hand."),
    ("Hey you, how are things?", "Not bad at all, busy as usual."),
    ("Hiya! Happy weekend!", "Happy weekend! Finally some rest."),
    ("Evening {Q}, are you around?", "Yep, just got home."),
    ("Happy {day}! Got a sec?", "For you, always."),
    ("Hi {Q}, it's {weather} here, how about you?", "Same-ish, I'm hiding indoors."),
]
FILLERS = [
    ("Did you watch anything good lately?", "Not really, I keep falling asleep ten minutes into everything."),
    ("I'm so tired today, I barely slept.", "Same here, must be something in the air."),
    ("Ugh, Mondays.", "Tell me about it."),
    ("Have you eaten yet?", "Just some toast, I'll cook later."),
    ("My phone is dying, sorry if I drop off.", "No worries!"),
    ("Honestly this week felt like a month.", "Ha, I know exactly what you mean."),
    ("I need a holiday from my holiday.", "Don't we all."),
    ("The neighbours are drilling again.", "On a Sunday? Brutal."),
    ("I finally cleaned out the fridge, it was a crime scene.", "Ha, brave of you."),
    ("Traffic was insane this morning.", "I saw, the whole ring road was red on the map."),
    ("I think I'm getting a cold.", "Drink lots of tea and rest up."),
    ("Any plans for the weekend?", "Nothing big, maybe a long walk."),
    ("I should really drink more water.", "Says everyone, always."),
    ("Just spilled soup all over my laptop bag.", "Oh no, is the laptop okay?"),
    ("Just made {dish} for dinner, {verdict}.", "Ooh, save me some."),
    ("Watching {show} tonight, no spoilers please.", "My lips are sealed."),
    ("It's been {weather} here all {day}.", "Same story here."),
    ("{thing} broke again, of course.", "Classic. Did you call someone?"),
    ("Stuck in {meeting} meeting this afternoon.", "Bring {snack}, it helps."),
    ("I need to {errand} before the shops close.", "Go go go!"),
    ("I ate {snack} for lunch, don't judge.", "Zero judgement, I had {snack}."),
    ("Have you seen {show}?", "Not yet, is it any good?"),
    ("Remind me to {errand} tomorrow.", "Noted. I will absolutely forget."),
]
REACTIONS = [
    "That's amazing, congrats!", "Wow, I'm so happy for you!", "Oh no, I'm sorry to hear that.",
    "Haha, that sounds like you.", "No way! Tell me more.", "That's wild.", "Love that for you.",
    "Ooh, send me pictures!", "You deserve it.", "Fingers crossed it all works out.",
]
CLOSINGS = [
    ("Anyway, I should get going. Talk soon!", "Talk soon, take care!"),
    ("Okay, dinner's ready, catch you later.", "Enjoy! Bye!"),
    ("Gotta run, speak next week?", "Definitely, bye for now."),
    ("Right, back to work for me.", "Good luck, chat later!"),
    ("Okay, I have to {errand}, talk later!", "Good luck, bye!"),
    ("Time to start on {dish}, bye for now.", "Enjoy, talk soon!"),
    ("I'm off to watch {show}, night!", "Night night!"),
]
# Questions about topics no storyline ever raises.
NEVER_SAID = [
    "What is {P}'s favourite football team?", "How many children does {P} have?", "What is {P}'s blood type?",
    "Which high school did {P} attend?", "What is the name of {P}'s mother?", "What motorbike does {P} ride?",
    "Which political party does {P} vote for?", "What is {P}'s star sign?", "Who was {P}'s first boss?",
    "Which video game is {P} obsessed with?", "What is {P}'s wedding anniversary?",
    "Which tattoo did {P} get recently?", "How much does {P} earn a year?", "What is {P}'s favourite ice cream flavour?",
]


STOPWORDS = set(
    "a an the of to in on at for with and or but is are was were be been did do does what which who whom whose "
    "when where why how that this it its his her he she him they their from by as after before up about would "
    "will than any s".split())


def copied_share(question, evidence):
    """The share of the question's content words (neither stopwords nor capitalised names after its first word)
    that the evidence texts use: 0 for a paraphrase with other words, 1 for a copy."""
    words = re.findall(r"[A-Za-z0-9]+", question)
    content = {w.lower() for i, w in enumerate(words) if w.lower() not in STOPWORDS and (i == 0 or not w[0].isupper())}
    said = {w.lower() for text in evidence for w in re.findall(r"[A-Za-z0-9]+", text)}
    return len(content & said) / len(content) if content else 0.0


def date_text(day):
    return f"{day.day} {day.strftime('%B')} {day.year}"


def season_of(day):
    """The season (northern hemisphere, by month) and the year a phrase like "the winter of 2025" names."""
    if day.month in (3, 4, 5):
        return "spring", day.year
    if day.month in (6, 7, 8):
        return "summer", day.year
    if day.month in (9, 10, 11):
        return "autumn", day.year
    return "winter", day.year if day.month == 12 else day.year - 1


class Person:
    def __init__(self, name, pronoun):
        self.name = name
        self.he, self.his, self.him = PRONOUNS[pronoun]
        self.pronoun = pronoun
        self.topics = set()  # what this person's storylines talk about, for adversarial questions


class Turn:
    def __init__(self, speaker, text):
        self.speaker = speaker
        self.text = text
        self.id = None
        self.session = None


class Conversation:
    """One chat: sessions of turns, built storyline by storyline, then filled with small talk."""

    def __init__(self, rng, cid, people, start, sessions):
        self.rng = rng
        self.cid = cid
        self.people = people
        self.dates = []
        day = start
        for _ in range(sessions):
            self.dates.append(day)
            day += datetime.timedelta(days=rng.randint(9, 22))
        self.blocks = [[] for _ in range(sessions)]  # per session, lists of turns said together
        self.questions = []

    def other(self, p):
        return self.people[1] if p is self.people[0] else self.people[0]

    def fill(self, p, text, **slots):
        q = self.other(p)
        return text.format(P=p.name, Q=q.name, he=p.he, his=p.his, him=p.him, He=p.he.capitalize(),
                           His=p.his.capitalize(), **slots)

    def block(self, session, *turns):
        """Puts turns said together into a session; `turns` are (person, text). Returns the turns."""
        made = [Turn(p.name, text) for p, text in turns]
        for turn in made:
            turn.session = session
        self.blocks[session].append(made)
        return made

    def ask(self, category, text, evidence, answer, key=None):
        """Adds a question; questions that share a `key` are ambiguous and all dropped in the end."""
        self.questions.append({"category": category, "question": text, "evidence": evidence, "answer": answer,
                               "key": key})

    def when(self, turn):
        return date_text(self.dates[turn.session])

    def react(self, q):
        return (q, self.rng.choice(REACTIONS))

    # Storylines. Each takes the person, the sessions it may use (sorted) and adds turns and questions.

    def pet(self, p, s):
        kind, young, breed = self.rng.choice(PETS)
        name = self.rng.choice(PET_NAMES)
        q = self.other(p)
        first = self.rng.choice([
            f"We finally brought home a little {breed} {young} from the rescue centre! We're calling {{him}} {name}.",
            f"Meet {name}, our new {breed} {young}, adopted from the shelter on Saturday.",
        ]).replace("{him}", "him" if kind == "dog" else "her")
        a, _ = self.block(s[0], (p, first), (q, f"Aww, {name} is such a cute name. Send pictures!"))
        incident, question, answer = self.rng.choice(PET_INCIDENTS)
        b, = self.block(s[1], (q, "How's the little furball settling in?"), (p, f"{name} {incident}."))[1:]
        self.ask("single-fact", self.fill(p, "What is the name of the {kind} {P} adopted?", kind=kind), [a], name)
        self.ask("single-fact", self.fill(p, "What breed is {P}'s {kind}?", kind=kind), [a], breed)
        self.ask("temporal", self.fill(p, "When did {P} get {his} {kind}?", kind=kind), [a], self.when(a))
        self.ask("multi-hop", self.fill(p, question, kind=kind), [a, b], answer)
        p.topics.add("pet")

    def job(self, p, s):
        (role, industry, employer), (role2, industry2, employer2) = self.rng.sample(JOBS, 2)
        q = self.other(p)
        a, _ = self.block(s[0], (p, self.rng.choice([
            f"Big news: I accepted the offer from {employer}, I'm their new {role} from next month.",
            f"Signed the contract today! {employer} took me on as a {role}.",
        ])), self.react(q))
        self.block(s[0] + 1 if s[0] + 1 < s[1] else s[1], (q, f"How's life at {employer} treating you?"),
                   (p, "Busy, but the team is lovely and the coffee machine is excellent."))
        b, _ = self.block(s[1], (p, f"I handed in my notice. {employer2} made me an offer I couldn't refuse, "
                                    f"{role2}, and a shorter commute."), (q, "Whoa, that was quick. Good for you!"))
        self.ask("single-fact", self.fill(p, "What position did {P} take at {E}?", E=employer), [a], role)
        self.ask("temporal", self.fill(p, "When did {P} land the job at {E}?", E=employer), [a], self.when(a))
        self.ask("temporal", self.fill(p, "When did {P} quit {E}?", E=employer), [b], self.when(b))
        self.ask("multi-hop", self.fill(p, "What was {P}'s job title before {he} switched to {E2}?", E2=employer2),
                 [a, b], role)
        self.ask("open-domain", self.fill(p, "In which industry does {P} work after changing employers?"),
                 [b], industry2)
        p.topics.add("job")

    def move(self, p, s):
        home, home_country, remark = self.rng.choice(HOME_CITIES)
        city, country, view = self.rng.choice([c for c in MOVE_CITIES if c[0] != home])
        q = self.other(p)
        a, = self.block(s[0], (p, f"{remark}. Honestly, {home} is wearing me out."), self.react(q))[:1]
        b, _ = self.block(s[1], (p, f"We signed the lease! Moving to {city} in a few weeks, the flat has {view}."),
                          (q, f"{city}! I'm coming to visit, you know that."))
        self.ask("single-fact", self.fill(p, "Which city is {P} relocating to?"), [b], city)
        self.ask("open-domain", self.fill(p, "In what country will {P} be living after the move?"), [b], country)
        self.ask("temporal", self.fill(p, "When did {P} sign the rental agreement for the new apartment?"), [b],
                 self.when(b))
        self.ask("multi-hop", self.fill(p, "Where did {P} live before {he} relocated to {C}?", C=city), [a, b], home)
        p.topics.add("move")

    def hobby(self, p, s, taken):
        name, first, later, questions = self.rng.choice([h for h in HOBBIES if h[0] not in taken])
        taken.add(name)
        friend = self.rng.choice(FRIENDS)
        q = self.other(p)
        a, _ = self.block(s[0], (p, first.format(F=friend)), (q, self.rng.choice(
            ["Ha, everyone starts somewhere.", "That sounds so fun, keep at it!", "I'd love to try that one day."])))
        b, _ = self.block(s[1], (p, later), self.react(q))
        for category, text, answer, which in questions:
            turn = a if which == "a" else b
            self.ask(category, self.fill(p, text, F=friend), [turn], answer or self.when(turn))
        p.topics.add("hobby")

    def trip(self, p, s, taken):
        city, country, sight = self.rng.choice([t for t in TRIPS if t[0] not in taken])
        taken.add(city)
        friend = self.rng.choice(FRIENDS)
        q = self.other(p)
        a, _ = self.block(s[0], (p, f"Booked the flights to {city}! {friend} is coming with me."),
                          (q, "Jealous! How long are you going for?"))
        _, b = self.block(s[1], (q, "Welcome back, traveller! How was it?"),
                          (p, f"Still dreaming about {city}, {sight}."))
        season, year = season_of(self.dates[b.session])
        self.ask("single-fact", self.fill(p, "Who accompanied {P} on the {C} vacation?", C=city), [a], friend)
        self.ask("open-domain", self.fill(p, "Which country did {P} visit with {F}?", F=friend), [a, b], country)
        self.ask("temporal", self.fill(p, "When did {P} get back from {G}?", G=country), [b], self.when(b))
        self.ask("temporal", self.fill(p, "Where did {P} go on holiday in the {S} of {Y}?", S=season, Y=year),
                 [b], city, key=(p.name, season, year))
        self.ask("multi-hop", self.fill(p, "What stayed with {P} most from the trip {he} took with {F}?", F=friend),
                 [a, b], sight)
        p.topics.add("trip")

    def sibling(self, p, s):
        sex = self.rng.choice("fm")
        name = self.rng.choice(SIBLINGS[sex])
        word, pron = ("sister", "she") if sex == "f" else ("brother", "he")
        q = self.other(p)
        news = self.rng.choice([
            (f"{name} got into medical school!! First doctor in the family.", "What program was {P}'s {w} admitted to?",
             "medical school"),
            (f"{name} is getting married next spring, and I'm giving a speech. Help.",
             "What big event is {P}'s {w} planning?", "a wedding"),
            (f"{name} just opened a little bike repair shop down by the station.",
             "What kind of business did {P}'s {w} start?", "a bike repair shop"),
            (f"{name} was picked for the national rowing squad!", "Which team was {P}'s {w} selected for?",
             "the national rowing squad"),
        ])
        a, _ = self.block(s[0], (p, f"My younger {word} {name} is crashing on my sofa this week, {pron} just "
                                    "finished exams."), (q, "Aw, that's sweet of you."))
        b, _ = self.block(s[1], (p, news[0]), self.react(q))
        self.ask("single-fact", self.fill(p, "Who stayed at {P}'s place after finishing school exams?"), [a], name)
        self.ask("multi-hop", self.fill(p, news[1], w=word), [a, b], news[2])
        self.ask("temporal", self.fill(p, "When did {P} share the news about {N}?", N=name), [b], self.when(b))
        p.topics.add("sibling")

    def diet(self, p, s):
        q = self.other(p)
        if self.rng.random() < 0.5:
            a, _ = self.block(s[0], (p, "I've cut out meat completely. Two months in and I actually feel great."),
                              (q, "Respect, I could never give up bacon."))
            self.ask("open-domain", self.fill(p, "Would {P} likely order the pork ribs at a barbecue place?"), [a],
                     "no, vegetarian")
            self.ask("single-fact", self.fill(p, "What change did {P} make to {his} eating habits?"), [a],
                     "stopped eating meat")
        else:
            nut = self.rng.choice(["peanuts", "shellfish", "sesame"])
            a, _ = self.block(s[0], (p, f"The allergist confirmed it: I react to {nut}, so that's off the menu now."),
                              (q, "Yikes, good that you found out."))
            self.ask("single-fact", self.fill(p, "What food is {P} allergic to?"), [a], nut)
            self.ask("temporal", self.fill(p, "When did {P} learn about {his} allergy?"), [a], self.when(a))
        p.topics.add("diet")

    def car(self, p, s):
        model, colour = self.rng.choice(CARS), self.rng.choice(COLOURS)
        q = self.other(p)
        a, _ = self.block(s[0], (p, f"We traded in the old hatchback and picked up a second-hand {colour} {model}."),
                          (q, "Nice! Road trip soon?"))
        self.ask("single-fact", self.fill(p, "What vehicle did {P} buy?"), [a], model)
        self.ask("single-fact", self.fill(p, "What colour is {P}'s new car?"), [a], colour)
        month = self.dates[a.session]
        self.ask("temporal", self.fill(p, "What did {P} purchase in {M}?", M=f"{month.strftime('%B')} {month.year}"),
                 [a], model)
        p.topics.add("car")

    def concert(self, p, s):
        band, genre = self.rng.choice(BANDS)
        q = self.other(p)
        a, _ = self.block(s[0], (p, f"Got two tickets for {band} at the arena, I screamed when the email came."),
                          (q, "Take me!!"))
        b, _ = self.block(s[1], (p, f"{band} live was unreal, three hours, I lost my voice from singing along."),
                          self.react(q))
        self.ask("single-fact", self.fill(p, "Which artist's show did {P} get tickets for?"), [a], band)
        self.ask("temporal", self.fill(p, "When did {P} see {B} perform?", B=band), [b], self.when(b))
        self.ask("open-domain", self.fill(p, "What genre of music does {P} seem to enjoy, judging by the gig?"), [a, b],
                 genre)
        p.topics.add("concert")

    def injury(self, p, s):
        what, part, how = self.rng.choice(SPORT_INJURIES)
        q = self.other(p)
        a, _ = self.block(s[0], (p, f"So I {what}. The physio says six weeks of rest."), (q, "Oh no! Get well soon."))
        self.ask("single-fact", self.fill(p, "How did {P} get hurt?"), [a], how)
        self.ask("temporal", self.fill(p, "When did {P} injure {his} {X}?", X=part), [a], self.when(a))
        p.topics.add("injury")

    def book(self, p, s):
        title, author = self.rng.choice(BOOKS)
        q = self.other(p)
        a, _ = self.block(s[0], (p, f"Can't put down {title}, I stayed up until two again."),
                          (q, "Ooh, lend it to me when you're done."))
        self.ask("open-domain", self.fill(p, "Who wrote the novel that kept {P} awake at night?"), [a], author)
        self.ask("single-fact", self.fill(p, "Which book was {P} hooked on?"), [a], title)
        p.topics.add("book")

    def study(self, p, s):
        field, school = self.rng.choice(STUDIES)
        q = self.other(p)
        a, _ = self.block(s[0], (p, f"I'm putting together my application for a master's in {field}."),
                          (q, "You'd be brilliant at that."))
        b, _ = self.block(s[1], (p, f"The acceptance letter from {school} arrived! I start in September."),
                          self.react(q))
        self.ask("single-fact", self.fill(p, "What subject does {P} want a graduate degree in?"), [a], field)
        self.ask("multi-hop", self.fill(p, "Which university admitted {P}, and for which programme?"), [a, b],
                 f"{school}, {field}")
        self.ask("temporal", self.fill(p, "When did {P} hear back that {he} had been accepted?"), [b], self.when(b))
        p.topics.add("study")

    def taste(self, p, s):
        q = self.other(p)
        if self.rng.random() < 0.5:
            a, _ = self.block(s[0], (p, "Coffee just makes me jittery. Give me a pot of jasmine tea any day."),
                              (q, "Heresy, but okay."))
            self.ask("single-fact", self.fill(p, "Which hot drink does {P} prefer?"), [a], "jasmine tea")
        else:
            a, _ = self.block(s[0], (p, "I'd take a snowy cabin over a beach holiday any day, heat makes me miserable."),
                              (q, "We are opposites, I'd melt happily on a beach."))
            self.ask("open-domain", self.fill(p, "Would {P} rather go skiing or sunbathing on vacation?"), [a], "skiing")
        p.topics.add("taste")

    def build(self, storylines_per_person, taken_hobbies, taken_trips):
        n = len(self.dates)
        for p in self.people:
            kinds = ["job", "move", "hobby", "hobby", "trip", "trip", "pet", "sibling", "diet", "car", "concert",
                     "injury", "book", "study", "taste"]
            chosen = ["hobby", "trip"] + self.rng.sample([k for k in kinds if k not in ("hobby", "trip")],
                                                         storylines_per_person - 2)
            if storylines_per_person > 8:
                chosen += ["hobby", "trip"]
            for kind in chosen:
                first = self.rng.randint(0, n - 4)
                second = self.rng.randint(first + 2, min(n - 1, first + 8))
                s = (first, second)
                if kind == "hobby":
                    self.hobby(p, s, taken_hobbies.setdefault(p.name, set()))
                elif kind == "trip":
                    self.trip(p, s, taken_trips.setdefault(p.name, set()))
                else:
                    getattr(self, kind)(p, s)
        keys = [q["key"] for q in self.questions if q["key"] is not None]
        self.questions = [q for q in self.questions if q["key"] is None or keys.count(q["key"]) == 1]
        self.adversarial()

    def adversarial(self):
        for p in self.people:
            q = self.other(p)
            for text in self.rng.sample(NEVER_SAID, 3):
                self.ask("adversarial", self.fill(p, text), [], None)
            # A storyline of one person asked about the other, who never talked about it.
            swapped = {
                "pet": "What is the name of the dog {P} adopted?", "car": "What car did {P} buy?",
                "concert": "Which artist's show did {P} get tickets for?", "study": "Which university admitted {P}?",
                "book": "Which book was {P} hooked on?", "injury": "How did {P} get hurt?",
                "sibling": "What is the name of {P}'s younger sibling?", "move": "Which city is {P} relocating to?",
                "job": "Which company hired {P}?", "diet": "What food is {P} allergic to?",
            }
            missing = [topic for topic in swapped if topic in q.topics and topic not in p.topics]
            for topic in self.rng.sample(missing, min(2, len(missing))):
                self.ask("adversarial", self.fill(p, swapped[topic]), [], None)

    def chat(self, lines, day, addressee):
        """A small-talk exchange of `lines` with its slots filled (the day of the week is the session's)."""
        exchange = []
        for text in self.rng.choice(lines):
            slots = {name: self.rng.choice(values) for name, values in SMALL_TALK.items()}
            slots.update(day=day.strftime("%A"), Q=addressee.name)
            text = text.format(**slots)
            exchange.append(text[0].upper() + text[1:])
        return exchange

    def render(self):
        """Orders each session (greeting, storyline blocks mixed with small talk, goodbye), numbers the turns
        and returns the conversation and its questions with turn ids."""
        a, b = self.people
        sessions = []
        for index, blocks in enumerate(self.blocks):
            starter, other = (a, b) if self.rng.random() < 0.5 else (b, a)
            day = self.dates[index]
            hello, reply = self.chat(GREETINGS, day, other)
            parts = [[Turn(starter.name, hello), Turn(other.name, reply)]]
            body = list(blocks)
            for _ in range(self.rng.randint(1, 3)):
                line, answer = self.chat(FILLERS, day, other)
                x, y = (a, b) if self.rng.random() < 0.5 else (b, a)
                body.append([Turn(x.name, line), Turn(y.name, answer)])
            self.rng.shuffle(body)
            parts += body
            bye, reply = self.chat(CLOSINGS, day, other)
            parts.append([Turn(other.name, bye), Turn(starter.name, reply)])
            turns = []
            for turn in (t for part in parts for t in part):
                turn.id = f"{self.cid}:s{index + 1}:t{len(turns) + 1}"
                turns.append({"id": turn.id, "speaker": turn.speaker, "text": turn.text})
            hour = self.rng.choice([8, 12, 18, 20])
            start = datetime.datetime(day.year, day.month, day.day, hour, self.rng.randint(0, 59),
                                      tzinfo=datetime.timezone.utc)
            sessions.append({"id": f"{self.cid}:s{index + 1}", "date": start.isoformat().replace("+00:00", "Z"),
                             "turns": turns})
        questions = [dict(q, evidence=[t.id for t in q["evidence"]]) for q in self.questions]
        conversation = {"id": self.cid, "speakers": [a.name, b.name], "sessions": sessions}
        return conversation, questions


def generate(seed, conversations, sessions, storylines, max_questions=None):
    rng = random.Random(seed)
    people = rng.sample(PEOPLE, 2 * conversations)
    out_conversations, out_questions = [], []
    for c in range(conversations):
        start = datetime.date(2025, 1, 6) + datetime.timedelta(days=rng.randint(0, 120))
        pair = [Person(*people[2 * c]), Person(*people[2 * c + 1])]
        conversation = Conversation(rng, f"c{c + 1}", pair, start, sessions)
        conversation.build(storylines, {}, {})
        chat, questions = conversation.render()
        out_conversations.append(chat)
        out_questions += questions
    if max_questions is not None and len(out_questions) > max_questions:
        # Keep every category's share: take every k-th question of each.
        keep = []
        for category in CATEGORIES:
            of = [q for q in out_questions if q["category"] == category]
            step = len(out_questions) / max_questions
            keep += [of[int(i * step)] for i in range(int(len(of) / step))]
        out_questions = keep
    for n, question in enumerate(out_questions):
        question["id"] = f"q{n + 1}"
    texts = {}
    for chat in out_conversations:
        for session in chat["sessions"]:
            for turn in session["turns"]:
                texts[turn["id"]] = f"{turn['speaker']}: {turn['text']}"
    evidence_texts = [texts[e] for q in out_questions for e in q["evidence"]]
    by_text = {}
    for chat in out_conversations:
        for session in chat["sessions"]:
            for turn in session["turns"]:
                by_text.setdefault(texts[turn["id"]].lower(), []).append(turn["id"])
    for text in evidence_texts:
        # The store keeps one memory per content: an evidence turn must not share its content with another.
        assert len(by_text[text.lower()]) == 1, f"evidence turn {text!r} is said twice"
    return {
        "name": "mms-retrieval",
        "seed": seed,
        "description": "Synthetic multi-session chats and questions for issue #18; see benches/retrieval/generate.py.",
        "conversations": out_conversations,
        "questions": [{k: q[k] for k in ("id", "category", "question", "evidence", "answer")} for q in out_questions],
    }


CATEGORIES = ["single-fact", "temporal", "multi-hop", "open-domain", "adversarial"]
FULL = {"seed": 18, "conversations": 14, "sessions": 24, "storylines": 10}
SMALL = {"seed": 1818, "conversations": 2, "sessions": 12, "storylines": 8, "max_questions": 100}


def dump(dataset):
    return json.dumps(dataset, indent=1, ensure_ascii=True) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when the files on disk differ")
    parser.add_argument("--out", type=Path, default=HERE, help="directory to write into")
    args = parser.parse_args()
    stale = []
    for name, settings in (("dataset.json", FULL), ("dataset-small.json", SMALL)):
        text = dump(generate(**settings))
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            data = json.loads(text)
            turns = sum(len(s["turns"]) for c in data["conversations"] for s in c["sessions"])
            counts = {c: sum(q["category"] == c for q in data["questions"]) for c in CATEGORIES}
            print(f"{path}: {turns} turns, {len(data['questions'])} questions {counts}, {len(text)} bytes")
    if stale:
        sys.exit(f"out of date: {', '.join(stale)}; run python3 benches/retrieval/generate.py")


if __name__ == "__main__":
    main()
