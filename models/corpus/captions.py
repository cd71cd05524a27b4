"""Captions and categories of corpus clips, derived from file paths and package metadata.

A clip's path (e.g. ``audio/ambient/weather/rain_2.ogg``) is normalised into
words (camelCase split, separators to spaces, digits dropped, known typos
fixed), then:

1. :data:`EXCLUSIONS` drop voices, speech, UI blips, music, sci-fi and magic
   sounds, with the reason recorded;
2. :data:`CATEGORIES`, a curated vocabulary of foley categories for silent
   film, are tried in order, first on the file name, then on the folders from
   the innermost outwards; the first category whose pattern matches wins;
3. the caption is the category's caption, specialised by at most one
   qualifier of that category (surface, material, action, intensity), so
   similar sounds share words: "horse gallop", "horse neigh", "footsteps on
   gravel", "running footsteps on sand".

Package tables (:mod:`models.corpus.packages`) may force a category or a drop
for path prefixes before these generic rules run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Typos and spellings seen in package file names, fixed before matching.
_FIXES = {
    "foorstep": "footstep", "croud": "crowd", "trafic": "traffic", "harbor": "harbour",
    "swordman": "sword man", "swordhit": "sword hit", "arrowfly": "arrow fly", "birdchirp": "bird chirp",
    "carhorn": "car horn", "oceanwaves": "ocean waves", "wavecrash": "wave crash", "waverocky": "wave rocky",
    "windgust": "wind gust", "windleaves": "wind leaves", "windstorm": "wind storm", "snowstorm": "snow storm",
    "nightcrickets": "night crickets", "cheeringloop": "cheering loop", "factoryloop": "factory loop",
    "citysounds": "city sounds", "firetruck": "fire truck", "policecar": "police car", "hstep": "hoof step",
    "mstep": "hoof step", "fs": "footstep", "stonegate": "stone gate", "cavedrip": "cave drip",
    "benchsaw": "bench saw", "windmill": "wind mill", "stonecutter": "stone cutter", "stonemason": "stone mason",
    "stonegrind": "stone grind", "fleshimp": "flesh impact", "fleshstab": "flesh stab", "jav": "javelin",
    "ballist": "ballista", "eleattack": "elephant attack", "elewalk": "elephant walk", "ele": "elephant",
    "cavein": "cave in", "raze": "demolition", "smove": "ship move", "amb": "ambient", "ambience": "ambient",
    "fencegate": "fence gate", "sawmill": "saw mill", "woodcutting": "wood cutting", "splashin": "splash",
    "splashout": "splash", "splosh": "splash", "concstep": "footstep concrete", "swimstep": "swimming",
}

_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def words(text: str) -> str:
    """Normalised words of a path or name: ``"Footstep_GravelRunning2.ogg"`` -> ``"footstep gravel running"``."""
    text = re.sub(r"\.(ogg|wav|flac|mp3|opus|oga)$", "", text, flags=re.I)
    text = _CAMEL.sub(" ", text).lower()
    text = re.sub(r"[^a-z]+", " ", text)
    out = [_FIXES.get(w, w) for w in text.split()]
    return " ".join(" ".join(out).split())


@dataclass(frozen=True)
class Category:
    """One curated foley category.

    Attributes:
        slug: stable identifier stored with every clip, e.g. ``"horse_gallop"``.
        caption: the plain caption, e.g. ``"horse gallop"``.
        pattern: regex over normalised words that puts a clip in the category.
        ambience: clips are continuous beds or loops (kept out of training mixtures).
        qualifiers: ordered ``(regex, caption)`` pairs; the first that matches
            the clip's words replaces the plain caption.
    """

    slug: str
    caption: str
    pattern: str
    ambience: bool = False
    qualifiers: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def caption_for(self, text: str) -> str:
        for regex, caption in self.qualifiers:
            if re.search(regex, text):
                return caption
        return self.caption


_SURFACES = (
    (r"\brun(ning)?\b.*\bgravel|\bgravel\b.*\brun", "running footsteps on gravel"),
    (r"\brun(ning)?\b.*\bsand|\bsand\b.*\brun", "running footsteps on sand"),
    (r"\brun(ning)?\b.*\bgrass|\bgrass\b.*\brun", "running footsteps on grass"),
    (r"\brun(ning)?\b", "running footsteps"),
    (r"\bgravel\b", "footsteps on gravel"), (r"\bsand\b", "footsteps on sand"),
    (r"\bgrass\b|\bdirt\b|\bcrumbly\b|\bmud\b", "footsteps on grass and earth"),
    (r"\bsnow\b|\bice\b", "footsteps on snow"), (r"\bsoft\b", "footsteps on grass and earth"), (r"\bwood\b|\bplank", "footsteps on wood"),
    (r"\brock\b|\bstone\b|\bhard\b|\bconcrete\b", "footsteps on stone"),
    (r"\bmetal\b", "footsteps on metal"), (r"\bwater\b|\bswimming\b", "footsteps in water"),
)

#: The curated vocabulary, most specific first. Categories that matter for silent film foley.
CATEGORIES: tuple[Category, ...] = (
    # transport
    Category("level_crossing", "level crossing bell", r"\blevel crossing\b|\brr crossing\b"),
    Category("train_whistle", "steam train whistle", r"\btrain (horn|whistle)\b|\bsteam whistle\b|\bfactory whistle\b",
             qualifiers=((r"\bfactory\b", "factory whistle"),)),
    Category("steam_train", "steam train", r"\bsteam (train|engine|locomotive)\b|\bsteam of steam engine\b|\bsteam\b.*\btunnel\b",
             qualifiers=((r"\bdepart", "steam train departing station"), (r"\btunnel\b", "steam train entering tunnel"))),
    Category("train", "train on rails", r"\btrain\b|\brail(way)?\b|\blocomotive\b|\btram\b|\bmonorail\b|\bmaglev\b",
             qualifiers=((r"\bdepart", "train departing station"),)),
    Category("propeller_plane", "propeller plane engine",
             r"\bpropeller\b|\bprop\b|\bcessna\b|\bengine prop\b|\bturboprop\b|\bp d (rpm|starter|startup)\b|\bwasp\b|\bplane\b",
             qualifiers=((r"\bstart|crank|engstart", "propeller plane engine starting"),
                         (r"\bwheels?\b|\btouch", "plane wheels on runway"))),
    Category("car_horn", "car horn", r"\b(car|bus|truck|bike|air) horn\b|\bclaxon\b|\bhorn\b.*\bcar\b"),
    Category("ship_horn", "ship horn", r"\b(ship|ferry|boat) horn\b"),
    Category("horn_signal", "horn signal", r"\bhorn signals?\b|\bhorn\b"),
    Category("car_engine", "motor car engine",
             r"\bcar\b|\bbus\b|\btruck\b|\btraffic\b|\bmotor\b|\bautomobile\b|\bengine\b|\bcranking\b|\bengstart\b|\bdistant cars\b",
             qualifiers=((r"\bbus\b", "old motor bus pulling away"), (r"\btraffic\b|\bdistant cars\b", "street traffic"),
                         (r"\bstart|crank", "engine starting"))),
    Category("helicopter", "helicopter rotor", r"\bhelicopter\b|\brotor\b|\bapache\b"),
    Category("tyres", "tyres rolling", r"\btires?\b|\btyres?\b|\bskid\b|\bscreech\b"),
    Category("cart_wheels", "wooden cart wheels",
             r"\bcart\b|\bwagon\b|\bcarriage\b|\bwheels?\b|\bcatapult walk\b|\bram move\b|\bonager moving\b|\bdirt track\b|\brattleroll\b"),
    Category("ship", "wooden ship creaking at sea",
             r"\bship\b|\bboat\b|\bwarship\b|\boars?\b|\browing\b|\bsail(ing)?\b"),
    # animals
    Category("horse_gallop", "horse gallop", r"\bgallop\b|\bcanter\b|\bmounted\b.*\bhoof\b|\bhorseman walk\b|\bcavalry\b"),
    Category("horse_hooves", "horse hooves", r"\bhoof\b|\bhooves\b|\btrot\b"),
    Category("horse_neigh", "horse neigh", r"\bhorse\b|\bneigh\b|\bwhinny\b|\bdonkey\b"),
    Category("cow", "cow mooing", r"\bcows?\b|\bcattle\b|\bmoo\b|\box\b|\boxen\b|\bbull\b"),
    Category("pig", "pig grunting", r"\bpigs?\b|\bsow\b|\bboar\b|\bhog\b"),
    Category("sheep", "sheep bleating", r"\bsheep\b|\blamb\b|\bgoat\b"),
    Category("chicken", "chickens clucking", r"\bchickens?\b|\bhen\b|\brooster\b|\bcock\b|\bpoultry\b",
             qualifiers=((r"\brooster\b|\bcock\b", "rooster crowing"),)),
    Category("dog", "dog barking", r"\bdogs?\b|\bbark(ing)?\b|\bhound\b|\bkennel\b"),
    Category("wolf", "wolf howling", r"\bwol(f|ves)\b|\bcoyote\b|\bhowl"),
    Category("gulls", "seagulls", r"\bgulls?\b|\bseagulls?\b"),
    Category("owl", "owl hooting", r"\bowl\b"),
    Category("duck", "ducks quacking", r"\bducks?\b|\bgeese\b|\bgoose\b"),
    Category("frog", "frogs croaking", r"\bfrogs?\b|\btoad\b"),
    Category("crickets", "crickets chirping", r"\bcrickets?\b|\bcycadas?\b|\bcicadas?\b|\binsects?\b"),
    Category("bees", "bees buzzing", r"\bbees?\b|\bbeehive\b"),
    Category("birds", "birds singing", r"\bbirds?\b|\bchirp\b|\bbirdsong\b|\bsongbird\b|\bpeacock\b|\bflamingo\b|\beagle\b|\bhawk\b|\bcrows?\b"),
    Category("elephant", "elephant trumpeting", r"\belephants?\b"),
    Category("big_cat", "lion roaring", r"\blions?\b|\broar\b|\btiger\b"),
    Category("deer", "deer calling", r"\bstag\b|\bdeer\b|\bmoose\b|\belk\b"),
    Category("camel", "camel grunting", r"\bcamels?\b"),
    Category("monkey", "monkeys screeching", r"\bmonkeys?\b|\bapes?\b"),
    Category("bats", "bats flapping", r"\bbats?\b"),
    # weather and water
    Category("thunder", "thunder", r"\bthunder\b|\bstorm bolts\b|\bthunderstorm\b"),
    Category("rain", "rain", r"\brain\b|\bdrizzle\b|\bdownpour\b", ambience=True,
             qualifiers=((r"\bstorm\b|\bheavy\b", "heavy rain"), (r"\bwindshield\b", "rain on a window"))),
    Category("waterfall", "waterfall", r"\bwaterfall\b|\bcascade\b", ambience=True),
    Category("sea_waves", "sea waves", r"\bwaves?\b|\bocean\b|\bsurf\b|\bsea\b|\bshore\b", ambience=True,
             qualifiers=((r"\bcrash|\brocky\b", "waves crashing on rocks"),)),
    Category("river", "river stream", r"\brivers?\b|\bstream\b|\bcreek\b|\bbrook\b", ambience=True,
             qualifiers=((r"\bfast\b|\braging\b", "fast river rapids"),)),
    Category("splash", "water splash", r"\bsplash\b|\bsplat\b|\bplop\b|\bsplosh\b|\bbubbles?\b|\bcave drip\b|\bdrip\b"),
    Category("water", "water flowing", r"\bwater\b|\blake\b|\bfountain\b", ambience=True),
    Category("wind", "wind", r"\bwind\b|\bgust\b|\bblizzard\b|\bsnow storm\b|\bbreeze\b", ambience=True,
             qualifiers=((r"\bgust\b", "wind gusts"), (r"\bstorm\b|\bheavy\b|\bhowl", "strong storm wind"),
                         (r"\bleaves\b", "wind in the leaves"))),
    Category("fire", "fire crackling", r"\bfire\b|\bcampfire\b|\bcrackl|\bflames?\b|\bburning\b|\btorch\b|\bfurnace\b|\bwicker\b",
             ambience=True),
    # ambiences
    Category("night_ambience", "night ambience", r"\bnight\b|\bnight ?time\b|\bnightime\b|\bevening\b", ambience=True),
    Category("day_ambience", "countryside ambience", r"\bday(scape)?\b|\bmorning\b|\bmeadow\b|\bforest\b|\bjungle\b|\btemperate\b|\btropical\b|\bpark(land)?\b|\bgreen\b|\bspring\b|\bautumn\b|\bcountryside\b",
             ambience=True),
    Category("farm_ambience", "farmyard ambience", r"\bfarm\b|\bfarmstead\b|\bfarm animal\b", ambience=True),
    Category("harbour_ambience", "harbour ambience", r"\bharbour\b|\bport\b|\bdock\b", ambience=True),
    Category("town_ambience", "town street ambience", r"\bcity\b|\btown\b|\btrade\b|\bresidential\b|\bshanty\b|\bvillage\b|\bstreet\b",
             ambience=True),
    Category("crowd", "crowd murmur", r"\bcrowd\b|\bmarket\b|\btavern\b|\binn\b|\bpeople\b|\baudience\b|\bchatter\b"),
    Category("applause", "applause and cheering", r"\bapplause\b|\bcheer(ing)?\b|\bclapping\b"),
    # work and tools
    Category("anvil", "hammer on anvil", r"\banvil\b|\bsmithy?\b|\bblacksmith\b|\bforge\b|\btoolsmith\b|\bsharpening\b|\bbridge\b"),
    Category("saw", "sawing wood", r"\bsaw(ing|mill)?\b|\bchainsaw\b|\bmill saw\b",
             qualifiers=((r"\bchainsaw\b", "chainsaw"), (r"\bcircular\b|\bbench saw\b|\bsaw mill\b", "sawmill blade"))),
    Category("wood_chopping", "axe chopping wood", r"\bchop(ping)?\b|\blumber(ing)?\b|\bwood cutting\b|\bcutting tree\b|\bhatchet\b|\bchoppy\b|\baxe\b"),
    Category("tree_falling", "tree falling", r"\btree (fall|falling|crash)|\bfalling tree\b|\bcrashing tree\b|\btree expire\b"),
    Category("pickaxe", "pickaxe on stone", r"\bmin(e|ing)\b|\bpick ?axe\b|\bquarry\b|\bstone ?(cutter|mason|cutting)\b|\bcracky\b|\bgeologist\b|\bcoal mine\b|\bore mine\b",
             qualifiers=((r"\bmetal\b|\bore\b|\bcoal\b", "pickaxe on ore"),)),
    Category("collapse", "building collapsing", r"\bcollapse\b|\bcave in\b|\bdebris\b|\bcrash\b|\bdemolition\b|\brumble\b|\bcrunch\b|\bquake\b|\bfalling tools\b|\bfall\b",
             qualifiers=((r"\bcrash\b", "crash"),)),
    Category("hammering", "hammering", r"\bhammer(ing)?\b|\bcon(struction)? (wood|stone)\b|\bbuild(ing)?\b|\bnail"),
    Category("jackhammer", "jackhammer", r"\bjackhammer\b|\bair hammer\b|\bpneumatic\b"),
    Category("digging", "digging soil with a shovel", r"\bdig(ging)?\b|\bshovel\b|\bhoe\b|\bspade\b|\bplough\b|\bgravel dug\b"),
    Category("scythe", "scythe cutting grain", r"\bscythe\b|\breap|\bharvest\b|\bgather field\b|\bsickle\b"),
    Category("mill", "mill grinding", r"\bmill\b|\bgrind(ing)?\b|\bmortar\b|\bmill turning\b"),
    Category("loom", "loom weaving", r"\bweav(er|ing)\b|\bloom\b|\bspin(ning)?\b"),
    Category("machinery", "factory machinery", r"\bfactory\b|\bindustry\b|\bmachine(ry)?\b|\bpottery\b|\brecycle\b|\bworkshop\b|\belevator\b"),
    Category("clock", "clock ticking", r"\bclock\b|\btick(ing)?\b"),
    Category("bell", "bell ringing", r"\bbells?\b|\bchime\b|\bchurch\b"),
    Category("cash", "coins and cash register", r"\bcash\b|\bcoins?\b|\bgold\b|\btill\b|\bmoney\b"),
    Category("leaves", "rustling leaves and bushes", r"\bleaves\b|\bbush(es)?\b|\bforaging\b|\brustl"),
    # house
    Category("door", "door", r"\bdoors?\b|\bgates?\b|\bchest\b|\bglove compartment\b|\bwindow (open|close|opening|closing)\b",
             qualifiers=((r"\bopen", "door opening"), (r"\bclos", "door closing"))),
    Category("creak", "wooden creak", r"\bcreak(ing)?\b|\bhinge\b|\bsqueak\b"),
    Category("knock", "knocking", r"\bknock(ing)?\b"),
    Category("glass", "glass breaking", r"\bglass\b|\bshatter\b|\bwindow\b"),
    # fighting
    Category("sword", "sword clash", r"\bswords?\b|\bblade\b|\bsabre\b|\bsword hit\b",
             qualifiers=((r"\bhit\b", "sword hitting"),)),
    Category("bow_arrow", "bow and arrow", r"\bbows?\b|\barrows?\b|\bcrossbow\b|\barcher\b|\barchers\b",
             qualifiers=((r"\bwood\b", "arrow hitting wood"), (r"\bmetal\b", "arrow hitting metal"),
                         (r"\bstone\b", "arrow hitting stone"), (r"\bdirt\b", "arrow hitting earth"),
                         (r"\bfly\b", "arrow flying"))),
    Category("shield", "weapon hitting a shield", r"\bshields?\b",
             qualifiers=((r"\bmetal\b", "weapon hitting a metal shield"), (r"\bwood\b", "weapon hitting a wooden shield"))),
    Category("sling", "sling stone", r"\bslings?\b"),
    Category("spear", "spear thrust", r"\bspears?\b|\bpikes?\b|\bjavelin\b|\blance\b"),
    Category("weapon_swing", "weapon swing", r"\bswish\b|\bwhoosh\b|\bswing\b|\bclub\b|\bmace\b|\bflail\b|\bstaff\b|\bdagger\b|\bknife\b|\bcudgel\b|\bstick fighter\b|\bthrow\b"),
    Category("impact", "heavy impact", r"\bhits?\b|\bimpact\b|\bclang\b|\bthump\b",
             qualifiers=((r"\bwood", "wooden impact"), (r"\bmetal\b|\bclang\b", "metal clang"),
                         (r"\brock\b|\bstone\b", "stone impact"))),
    Category("punch", "punch", r"\bfist\b|\bpunch\b|\bflesh (impact|stab)\b|\bthud\b|\bkick\b|\bbody fall\b"),
    Category("cannon", "cannon fire", r"\bcannon\b|\bmortar fire\b|\bballista\b|\bonager\b|\bsiege\b|\bcatapult\b|\bram attack\b|\bsiege projectile\b"),
    Category("gunshot", "gunshot", r"\bguns?(hot)?\b|\bmusket\b|\brifle\b|\bpistol\b|\bshotgun\b|\bmachine ?gun\b|\bgatling\b|\bthunderstick\b|\bshot\b"),
    Category("explosion", "explosion", r"\bexplo(sions?|de|des|ding)\b|\bblast\b|\bbomb\b|\btnt\b|\bdetonat|\bnapalm\b|\bgunpowder\b|\bfuse\b",
             qualifiers=((r"\bsmall\b", "small explosion"), (r"\blarge\b|\bbig\b|\bxlarge\b", "large explosion"))),
    Category("footsteps", "footsteps", r"\bfootsteps?\b|\bsteps?\b|\bwalk(ing)?\b|\bland\b|\bjump\b|\bswimming\b",
             qualifiers=_SURFACES),
)

CATEGORY_BY_SLUG: dict[str, Category] = {c.slug: c for c in CATEGORIES}

#: Words that mark a clip as out of scope, checked on the whole path; (regex, reason).
EXCLUSIONS: tuple[tuple[str, str], ...] = (
    (r"\bmusic\b|\bsoundtrack\b|\bfanfare\b|\bwar ?drums\b|\btheme\b|\bsong\b|\bintro\b|\bmenu\b", "music"),
    (r"\bvoices?\b|\bspeech\b|\btaunts?\b|\bannouncer\b|\bnarrat|\bchecklist\b|\bcallouts?\b|\btcas\b|\bmk viii\b"
     r"|\bsay(ing)?\b|\btalk|\bgreet|\blaugh|\bscream|\bgroan\b|\bwail|\bcough|\bpain\b|\bargh\b|\bugg\b|\boooh\b", "voice or speech"),
    (r"\bui\b|\binterface\b|\bgui\b|\bclick\b|\bbutton\b|\bcheckbox\b|\bslider\b|\bchat\b|\blobby\b|\bmessage\b|\bnotify\b"
     r"|\balarm\b|\balert\b|\bbeep\b|\bsonar\b|\bhighlight\b|\battention\b|\btimer\b|\bjoin\b|\bleave\b|\breceive\b"
     r"|\barrive\b|\bexpand\b|\bcontract\b|\bgamestart\b|\bextra ?life\b|\bpress\b|\bback\b|\bchange\b|\bscroll\b|\bavionics\b|\bflarm\b|\bvario\b", "interface sound"),
    (r"\blasers?\b|\bmagic\b|\bspell\b|\bteleport|\bbeam\b|\bplasma\b|\bzap\b|\bbzzt\b|\bemp\b|\bradiation\b|\bnuclear\b"
     r"|\benergy\b|\bshield (activ|hit)|\bactiv|\bheal\b|\bsummon|\bdaemon\b|\bdragon\b|\bgolem\b|\bghost\b|\bgenie\b|\blich\b"
     r"|\bmorph\b|\balien|\bjumppad\b|\brespawn\b|\bregenerate\b|\bitem|\bwakawaka\b|\bfaerie|\bholy\b|\bpetrified\b|\bentangle\b"
     r"|\bslowed\b|\bpoison\b|\bpotion\b|\binitiate\b|\bbattlemage\b|\barchmage\b|\bsorcer|\bwitch|\bwose\b|\bmummy\b|\banubis\b"
     r"|\bbehemoth\b|\bcarpet\b|\bvalkyrie\b|\bthunderbird\b|\bshaman\b|\bmagician\b|\bfakir\b|\bminaret\b|\bprincess\b|\bsnake basket\b"
     r"|\brocket\b|\bmissile\b|\block ?on\b|\bcritical\b|\bshockdamage\b|\bbleed|\bdamage\b|\bhum\b|\belectro\b|\bvortex\b|\bwhine\b"
     r"|\blava\b|\bgloop\b|\bgas\b|\bacid\b|\bmeteor\b|\brift\b|\bcartoon\b|\btoyland\b|\bbattery\b|\bjet\b|\bturbine\b|\bturbojet\b|\bfan\b", "sci-fi, magic or anachronistic"),
    (r"\bguitar\b|\bpiano\b|\borgan\b|\bflute\b|\bgoldspin\b", "music"),
)

#: Human or creature unit words: ``ack``/``select``/``die``/``hit`` on such a unit is a voice line.
_CREATURES = (r"\b(human|male|female|man|men|woman|lady|old|orc|goblin|dwarf|elf|troll|ogre|naga|merm[ae]n|mermaid|"
              r"skeleton|zombie|ghoul|yeti|drake|gryphon|tusker|squishy|hiss|warrior|guard|worker|technician|"
              r"soldier|player|hero|priest|axe thrower|stick fighter|battleaxe|spearman|archer|horseman|sword man)\b")
_VOICE_ACTIONS = r"\b(ack|select|sel|die|death|hit|prod|yes|no|order|trained|standing|idle)\b"
#: Animals whose ``ack``/``select``/``idle`` clips are their calls (kept).
_ANIMALS = (r"\b(cow|cattle|pig|sheep|goat|chicken|horse|bull|ox|elephant|camel|lion|wolf|dog|bird|eagle|"
            r"peacock|flamingo|boar|sow|bee|deer|stag|moose|duck|frog)\b")


@dataclass(frozen=True)
class Labelled:
    """The outcome of :func:`label`: a category and caption, or a drop reason."""

    category: str | None
    caption: str | None
    is_ambience: bool
    reason: str | None = None  # why the clip was dropped (None when kept)


def _exclusion(text: str) -> str | None:
    for regex, reason in EXCLUSIONS:
        if re.search(regex, text):
            return reason
    if re.search(_VOICE_ACTIONS, text) and not re.search(_ANIMALS, text):
        if re.search(_CREATURES, text) or re.search(r"\b(ack|select|sel|prod)\b", text):
            return "voice or speech"
    if re.search(r"\b(die|death|dying|hit)\b", text) and re.search(_CREATURES, text):
        return "voice or speech"
    if re.search(r"\b(die|death|dying)\b", text) and re.search(_ANIMALS, text):
        return "animal death cry"
    return None


def _category_for(text: str) -> Category | None:
    for category in CATEGORIES:
        if re.search(category.pattern, text):
            return category
    return None


def label(relpath: str, *, title: str | None = None, forced: str | None = None) -> Labelled:
    """Category and caption of one clip from its path (and catalogue title, when the package has one).

    Arguments:
        relpath: the clip's path inside its package (or archive), e.g. ``sounds/ambient/forest_birds.ogg``.
        title: a catalogue's name for the sound (openttd-opensfx), matched before the path.
        forced: a category slug forced by the package table (skips the generic category search,
            not the exclusions).

    Returns:
        A :class:`Labelled`; ``category`` is None and ``reason`` says why when the clip is dropped.

    Raises:
        KeyError: ``forced`` is not a known category slug.
    """
    parts = [words(p) for p in relpath.replace("\\", "/").split("/") if p]
    full = " ".join(p for p in parts if p)
    name_text = words(title) if title else (parts[-1] if parts else "")
    reason = _exclusion(f"{name_text} {full}" if title else full)
    if reason:
        return Labelled(None, None, False, reason)
    if forced is not None:
        category = CATEGORY_BY_SLUG[forced]
        return Labelled(category.slug, category.caption_for(f"{name_text} {full}"), category.ambience)
    # File name (or title) first, then folders from the innermost outwards.
    for text in [name_text, *reversed(parts[:-1])]:
        category = _category_for(text) if text else None
        if category is not None:
            return Labelled(category.slug, category.caption_for(f"{name_text} {full}"), category.ambience)
    return Labelled(None, None, False, "no category matches the file name or folders")


def description(relpath: str, caption: str, *, title: str | None = None, package: str = "") -> str:
    """A short description text from a clip's metadata.

    The catalogue title when the package has one (``"Steam train station departure"``), else the
    file name's words with its nearest informative folder, e.g. ``"forest birds (ambient)"``;
    the caption is appended when the words do not already say it.
    """
    if title:
        text = title.strip().rstrip(".")
    else:
        parts = [words(p) for p in relpath.split("/") if p]
        stem = parts[-1] if parts else ""
        folders = [p for p in reversed(parts[:-1]) if p and p not in {"sounds", "sound", "audio", "data", "wav", "sfx"}]
        text = stem or caption
        if folders and folders[0] not in text:
            text = f"{text} ({folders[0]})"
    if not set(caption.split()) & set(text.lower().split()):
        text = f"{caption}: {text}"
    return text[:1].upper() + text[1:] if text else caption
