"""The curated table of Debian packages the corpus is built from.

Each :class:`PackageSource` says where a package keeps its sounds (folders
under the package tree, archives inside it), and path rules that override the
generic caption rules of :mod:`models.corpus.captions` for that package: a
forced category, or a drop with its reason. The rules were written after
listing each package's files (``apt-get download`` then ``dpkg-deb -c``) and
reading its ``copyright`` file; see ../shared/NOTES.md for the survey.

Paths are relative to the root of the installed package tree (``usr/share/...``);
a sound inside an archive is named ``<archive path>!<member path>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ArchiveKind = Literal["dir", "zip", "opensfx-cat", "c4group"]


@dataclass(frozen=True)
class SoundRoot:
    """Where sounds live in a package: a folder, or an archive file and a member prefix.

    Attributes:
        path: folder or archive, relative to the package root.
        kind: ``dir`` (plain files), ``zip`` (0ad's public.zip), ``opensfx-cat``
            (RIFF blobs with a catalogue name each), ``c4group`` (OpenClonk .ocg/.ocd groups).
        members: for archives, only members whose path starts with this prefix.
    """

    path: str
    kind: ArchiveKind = "dir"
    members: str = ""


@dataclass(frozen=True)
class PackageSource:
    """One Debian package of the corpus.

    Attributes:
        name: the Debian package name.
        roots: where its sounds are.
        rules: ordered ``(regex on the clip path, action)``; the action is a
            category slug (forced), or ``"drop:<reason>"``. First match wins;
            unmatched clips go through the generic caption rules.
        licence_source: ``dep5`` (the package's copyright file), ``opensfx-catalogue``
            (per-sound author and licence in the catalogue names), ``openclonk-authors``
            (Sound.ocg's ``authors.txt``) or ``stated`` (``licence`` below, read by hand from a
            copyright file that is not machine-readable).
        licence: ``(licence, author)`` for ``stated``.
        note: what the package adds (for ``foleyflow corpus build --list``).
    """

    name: str
    roots: tuple[SoundRoot, ...]
    rules: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    licence_source: Literal["dep5", "opensfx-catalogue", "openclonk-authors", "stated"] = "dep5"
    licence: tuple[str, str] | None = None
    note: str = ""


_DROP_UI = "drop:interface sound"
_DROP_VOICE = "drop:voice or speech"
_DROP_UNSURE = "drop:content unclear from its name"

PACKAGES: dict[str, PackageSource] = {p.name: p for p in (
    PackageSource(
        "0ad-data",
        roots=(SoundRoot("usr/share/games/0ad/mods/public/public.zip", "zip", "audio/"),),
        rules=(
            (r"!audio/(music|voice)/", "drop:music or voice"),
            (r"!audio/interface/", _DROP_UI),
            (r"!audio/actor/human/death/", _DROP_VOICE),
            (r"!audio/attack/fire/", _DROP_UNSURE),  # c_/sp_/sz_ numbered weapon firing
            (r"!audio/actor/mounted/movement/", "horse_gallop"),
            (r"!audio/actor/fauna/movement/camel", "camel"),
            (r"!audio/actor/fauna/death/", "drop:animal death cry"),
            (r"!audio/actor/singlesteps/", "footsteps"),
            (r"!audio/actor/human/movement/", "footsteps"),
            (r"!audio/resource/construction/con_saw", "saw"),
            (r"!audio/resource/construction/", "hammering"),
            (r"!audio/resource/lumbering/lumber_treeexpire", "tree_falling"),
            (r"!audio/resource/lumbering/", "wood_chopping"),
            (r"!audio/resource/mining/", "pickaxe"),
            (r"!audio/resource/farming/", "digging"),
            (r"!audio/resource/gathering/gather_field", "scythe"),
            (r"!audio/resource/foraging/", "leaves"),
            (r"!audio/resource/gathering/", _DROP_UNSURE),
            (r"!audio/attack/impact/siegeprojectilehit", "collapse"),
            (r"!audio/attack/weapon/(pike|spear|jav)", "spear"),
            (r"!audio/attack/weapon/sword_attack", "weapon_swing"),
            (r"!audio/ambient/building/amb_trade", "town_ambience"),
        ),
        note="weather/day/water ambiences, footsteps by surface, mining, lumber, building, farming, animals, "
             "ships, siege, bows, swords, muskets (inside public.zip)",
    ),
    PackageSource(
        "megaglest-data",
        roots=(SoundRoot("usr/share/games/megaglest"),),
        rules=(
            (r"/(menu|music)/", "drop:music or interface"),
            (r"/tilesets/[^/]+/sounds/(hell|water)", "drop:content unclear from its name"),
            (r"/factions/[^/]+/units/elephant/", "elephant"),
            (r"/factions/[^/]+/units/bull/", "cow"),
            (r"/factions/[^/]+/units/wild_sow/", "pig"),
            (r"/factions/[^/]+/units/(chicken|sheep|beehive)/", ""),  # generic rules (animal names)
            (r"/factions/.*_attack\d*[a-z]?\.wav$", ""),
            (r"/factions/", "drop:unit voice or effect of a fantasy unit"),
        ),
        note="horse, cow, pig, chicken, wolf, owl; rain/night/day ambiences; collapses",
    ),
    PackageSource(
        "widelands-data",
        roots=(SoundRoot("usr/share/games/widelands/data/sound"), SoundRoot("usr/share/games/widelands/data/world")),
        rules=(
            (r"/music/", "drop:music"),
            (r"/taverns/|beerbubble|winebubble", _DROP_UNSURE),
            (r"/farm/farm_animal", "farm_ambience"),
            (r"/atlanteans/cutting/", "pickaxe"),
            (r"/mill/weaving", "loom"),
            (r"/barbarians/weaver", "loom"),
            (r"/fisher/", "splash"),
            (r"/smiths/sharpening", "anvil"),
            (r"/metal/(goldping|ironping)", "anvil"),
            (r"/metal/fizzle", "splash"),
            (r"/barbarians/blackwood", "hammering"),
            (r"/military/|create_construction_site", _DROP_UI),
        ),
        note="smithy, saws, mill, weaving, scythe, hammering, ox, sheep, duck, frog, birds",
    ),
    PackageSource(
        "scorched3d-data",
        roots=(SoundRoot("usr/share/games/scorched3d/data"),),
        rules=(
            (r"/(shield|movement|battery)/", "drop:sci-fi tank effect"),
            (r"/wav/misc/(f\d|t\d|para|play|text|camera|apache|fight)", _DROP_UNSURE),
            (r"/shoot/(large|medium|small|xlarge|tracer|flare|launch|tripleshot)", _DROP_UNSURE),
            (r"/explosions/(bees|beesting|bhit|dirt|empsmall|gas|shockwave|tank|thud|crunch|gloop)", _DROP_UNSURE),
            (r"/wav/misc/firetruck|/wav/misc/policecar", "drop:modern siren"),
        ),
        note="gulls, birds, frogs, dogs, thunder, sea (11 kHz)",
    ),
    PackageSource(
        "redeclipse-data",
        roots=(SoundRoot("usr/share/games/redeclipse/data/sounds/ambience"),),
        rules=((r"/ambience/(door|switch|vapour|machine)", _DROP_UNSURE),),
        note="river, waterfall, wind, cave drip (ambiences only)",
    ),
    PackageSource(
        "flightgear-data-base",
        roots=(SoundRoot("usr/share/games/flightgear/Sounds"),
               SoundRoot("usr/share/games/flightgear/Aircraft/c172p/Sounds")),
        rules=(
            (r"/(engine-prop|prop|p\d+d_rpm\d*|R-\d+Slow|engine|engine-idle)\.wav$", "propeller_plane"),
            (r"/(engstart|cranking|starter_\w+|engine-crank|engine-start|p\d+d_start\w*|engine-cut)\.wav$", "propeller_plane"),
            (r"/(gear|gear-lck|gear-hrn|flaps\w*|trim|rudder-trim|lever|keys\d*|primer-\w+|control_lock|repair"
             r"|gyro|stall\d*|overspeed\d*|radionoise|scratch|gps_\w+|squeal\d*|exhaust_\w+|blade_vortex|water-rudder-\w+)\.wav$",
             "drop:cockpit or instrument sound"),
            (r"/(rumble|rumble-rough)\.wav$", "tyres"),
            (r"/water-(fast|still)\.wav$", "water"),
            (r"/helicopter-skid", _DROP_UNSURE),
        ),
        note="propeller engines, rain, wind, thunder, tyres",
    ),
    PackageSource(
        "openclonk-data",
        roots=(SoundRoot("usr/share/games/openclonk/Sound.ocg", "c4group"),),
        rules=(
            (r"!UI/", _DROP_UI),
            (r"!Clonk/Skin/", _DROP_VOICE),
            (r"!Animals/(Chippie|Mooq|Puka|Wipf|Zap|LavaCore|Monster|Fish)/", "drop:fantasy creature"),
            (r"!Animals/MosquitoBuzz", "bees"),
            (r"!Clonk/Movement/StepHard", "footsteps"),
            (r"!Clonk/Movement/StepSoft", "footsteps"),
            (r"!Clonk/Movement/Rustle", "leaves"),
            (r"!Clonk/Action/Dig/", "digging"),
            (r"!Clonk/", _DROP_UNSURE),
            (r"!Environment/Tree/Chop", "wood_chopping"),
            (r"!Environment/Tree/", "tree_falling"),
            (r"!Environment/Disasters/", "collapse"),
            (r"!Environment/Vine/", _DROP_UNSURE),
            (r"!Fire/Blast(Liquid|Metal)?\d*(alt)?\.", "explosion"),
            (r"!Fire/(Fire|Inflame)\.", "fire"),
            (r"!Fire/", _DROP_UNSURE),
            (r"!Liquids/(Corrode|Pshshsh|Sizzle|SmokeSizzle)", _DROP_UNSURE),
            (r"!Liquids/(Boiling|Bubble|Swim|Waterdrop)", "splash"),
            (r"!Objects/(Arrow|Weapons/Bow)/", "bow_arrow"),
            (r"!Objects/Weapons/Blunderbuss/(GunShoot|BulletShot)", "gunshot"),
            (r"!Objects/Weapons/Javelin/", "spear"),
            (r"!Objects/Weapons/Shield/", "shield"),
            (r"!Objects/Weapons/WeaponSwing", "weapon_swing"),
            (r"!Objects/Weapons/WeaponHit", "impact"),
            (r"!Objects/Plane/PropellerLoop", "propeller_plane"),
            (r"!Objects/Plane/PlaneCrash", "collapse"),
            (r"!Objects/Catapult_Launch", "cannon"),
            (r"!Objects/Pickaxe/", "pickaxe"),
            (r"!Objects/", _DROP_UNSURE),
            (r"!Structures/(Door|Chest/|StoneGate/GateMove)", "door"),
            (r"!Structures/HingeCreak", "creak"),
            (r"!Structures/SawmillRipcut", "saw"),
            (r"!Structures/(SteamEngine|Elevator/|Pumpjack)", "machinery"),
            (r"!Structures/Furnace/", "fire"),
            (r"!Structures/WheelsTurn", "mill"),
            (r"!Structures/", _DROP_UNSURE),
        ),
        licence_source="openclonk-authors",
        note="doors, hinges, footsteps, thunder, rain, glass, hits, sawmill, steam engine (inside Sound.ocg)",
    ),
    PackageSource(
        "lincity-ng-data",
        roots=(SoundRoot("usr/share/games/lincity-ng/sounds"),),
        rules=(
            (r"/(Health|School|University|Monument\d|Substation\w*|PowerLine|PowerSolar|Tip|Commune|Recycle)\d*\.wav$",
             _DROP_UNSURE),
            (r"/(WindowOpen|WindowClose|Click|Build)\d*\.wav$", _DROP_UI),
            (r"/(Market\w*|SportsCroud\d*)\.wav$", "crowd"),
            (r"/(ParklandPlane)\d*\.wav$", "day_ambience"),
            (r"/(PowerCoal\w*|IndustryHigh\d*|IndustryLight\d*)\.wav$", "machinery"),
            (r"/MonumentConstruction\d*\.wav$", "hammering"),
            (r"/Blacksmith\d*\.wav$", "anvil"),
            (r"/WindMill\w*\.wav$", "mill"),
            (r"/FireStation\d*\.wav$", "drop:modern siren"),
            (r"/FireWasteland\d*\.wav$", "fire"),
            (r"/Raze\d*\.wav$", "collapse"),
        ),
        note="rail, harbour, market, mills, mines, industry (11 kHz loops)",
    ),
    PackageSource(
        "wesnoth-1.16-data",
        roots=(SoundRoot("usr/share/games/wesnoth/1.16/data/core/sounds"),),
        rules=(
            (r"/ambient/wardrums", "drop:music"),
            (r"/ambient/morning", "day_ambience"),
            (r"/horse-(canter|elf-canter)", "horse_gallop"),
            (r"/horse-(hit|die)", "drop:animal death cry"),
            (r"/(wolf|gryphon|bat|drake|tusker)-(hit|die)", "drop:animal death cry"),
            (r"/(bite|bite-small|claws|pincers|tail|ink|net|dart|mud-\w+|dragonstick|wose-\w+|torch|melee-fire|flame-big)(-miss)?\.(ogg|wav)$",
             _DROP_UNSURE),
            (r"/(miss-\d|hatchet(-miss)?|throw-\d|sling(-big)?(-miss)?)\.(ogg|wav)$", "weapon_swing"),
            (r"/(thunderstick|gunshot)(-miss)?\.(ogg|wav)$", "gunshot"),
            (r"/rumble\.ogg$", "collapse"),
            (r"/gold\.ogg$", "cash"),
            (r"/(open-chest)\.wav$", "door"),
        ),
        # The copyright file is not DEP-5; it states GPL version 2 "or at your option any later version".
        licence_source="stated",
        licence=("GPL-2+", "David White and the Battle for Wesnoth contributors"),
        note="horse, wolf, ship, bell, fire, horn signals, weapons",
    ),
    PackageSource(
        "minetest-data",
        roots=(SoundRoot("usr/share/games/minetest/games/minetest_game/mods"),),
        rules=(
            (r"/(default_place_node\w*|default_dug_node|default_dug_metal|default_dig_dig_immediate|default_dig_metal"
             r"|default_dig_oddly_breakable_by_hand|default_dig_snappy|default_item_smoke|player_damage|default_tool_breaks"
             r"|default_cool_lava|fire_flint_and_steel|tnt_ignite)(\.\d+)?\.ogg$", _DROP_UNSURE),
            (r"/default_(ice|gravel)_(dig|dug)", "digging"),
            (r"/default_dig_crumbly", "digging"),
            (r"/default_chest_", "door"),
            (r"/fire_extinguish", "splash"),
            (r"/carts_cart_moving", "cart_wheels"),
            (r"/env_sounds_water", "river"),
        ),
        note="doors, footsteps, glass, fire, carts",
    ),
    PackageSource(
        "openttd-opensfx",
        roots=(SoundRoot("usr/share/games/openttd/baseset/opensfx/opensfx.cat", "opensfx-cat"),),
        rules=(
            (r"(?i)toyland|unused|beep|morse|electric sparking|good year|bad year|oooh|comedy|jet take off|helicopter",
             "drop:cartoon, interface or anachronistic"),
            (r"(?i)splat \(rail", "hammering"),
            (r"(?i)splat", "digging"),
            (r"(?i)breakdown|crash", "collapse"),
            (r"(?i)building bridge", "anvil"),
            (r"(?i)mining machinery", "machinery"),
            (r"(?i)cash till", "cash"),
            (r"(?i)steam \(of steam engine\)", "steam_train"),
            (r"(?i)station departure", ""),
            (r"(?i)bird", "birds"),
            (r"(?i)lion", "big_cat"),
        ),
        licence_source="opensfx-catalogue",
        note="steam trains, level crossing, old bus, factory whistle, jackhammer (catalogue names give author and licence)",
    ),
)}


def select_packages(names: list[str] | None) -> list[PackageSource]:
    """The package sources to build, in table order.

    Arguments:
        names: package names; None or empty for every package in :data:`PACKAGES`.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    if not names:
        return list(PACKAGES.values())
    unknown = [n for n in names if n not in PACKAGES]
    if unknown:
        raise ValueError(f"unknown corpus package(s) {', '.join(unknown)}; known: {', '.join(PACKAGES)}")
    return [PACKAGES[n] for n in names]
