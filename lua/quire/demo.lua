-- The demo site `quire init --demo` makes (and `make demo` serves): the Mereland Courier, a small
-- regional paper on an invented coast. One shared theme runs through it: the plan for a tidal
-- barrage across Halden Bay, told as a datelined news story and argued in an opinion piece, with
-- forty-odd more entries across sections and tags so lists, related posts, neighbours and feeds have
-- something to show. Dates are relative to the moment the demo is made.
local M = {}

M.SECTIONS = { "News", "Business", "Environment", "Culture", "Sport", "Opinion" }

-- Settings appended to the new site's site.lua.
function M.site_lua()
  return [[

-- The demo: every bundled plugin of the news site. (No base_url: links follow the address
-- served, so `make demo PORT=9000` links to port 9000.)
plugins = { "theme", "article", "opinion", "comments", "share", "prevnext", "related", "sponsor", "feeds", "search", "listings", "workflow" }
theme = { sections = { "News", "Business", "Environment", "Culture", "Sport", "Opinion" }, tagline = "News from the Mereland coast" }
feeds = { description = "News, business and opinion from Halden Bay and the Mereland coast" }
listings = { front_sections = { "News", "Business", "Environment", "Culture", "Sport" } }
sponsor = {
  slots = {
    { area = "sidebar", name = "Mereland Maritime Museum", url = "https://museum.example/visit",
      text = "Three centuries of boats, nets and lighthouses. Open daily on the quay." },
    { area = "after_article", name = "Corrow Ferries", url = "https://ferries.example/timetable",
      text = "Winter timetable: crossings every forty minutes from Halden Bay." },
    { area = "in_feed", name = "Estmere Books", url = "https://books.example",
      text = "The coast's independent bookshop, now with a reading room." },
  },
}
]]
end

local USERS = {
  { login = "maren", name = "Maren Holt", role = "editor",
    bio = "Maren has covered Halden Bay's harbour, council and courts for the Courier since 2014." },
  { login = "olu", name = "Olu Adeyemi", role = "author",
    bio = "Olu writes about energy, the sea and the weather, and sails whenever the forecast allows." },
  { login = "petra", name = "Petra Lindqvist", role = "author",
    bio = "Petra is the Courier's business editor and a former harbour master's clerk." },
  { login = "davy", name = "Davy Roche", role = "author",
    bio = "Davy writes a weekly column on the coast's towns: what they keep, and what they lose." },
  { login = "ash", name = "Ash Mbeki", role = "author",
    bio = "Ash reports on sport and culture, and judges the Estmere pie contest every spring." },
}

-- The lead story and the opinion piece share the barrage theme.
local LEAD = {
  type = "article", author = "maren", section = "News", hours_ago = 3,
  tags = { "Tidal Barrage", "Energy", "Harbour", "Council" },
  title = "Halden Bay council backs tidal barrage plan after nine-hour meeting",
  fields = {
    dateline = "Halden Bay",
    standfirst = "Councillors voted 23 to 14 to take the £1.2bn scheme to a public inquiry, despite objections from fishing crews and bird charities.",
    keywords = { "barrage", "tidal power" },
    hero_caption = "The mouth of Halden Bay at dusk, where the barrage would run between the two headlands.",
    hero_credit = "Photo illustration: Mereland Courier",
  },
  body = [[
The vote came shortly after midnight, at the end of the longest meeting the council chamber has seen since the 1990s, and was greeted by applause from one side of the public gallery and silence from the other.

The scheme would close the mouth of the bay with a two-kilometre wall of sluice gates and turbines, generating power on both the ebb and the flood tide. Its backers, a consortium led by Merecoast Energy, say it would supply enough electricity for 180,000 homes and protect the old town from the storm surges that flooded Quay Street twice last winter.

## What happens next

A public inquiry is expected to open in the spring. The consortium must still win a marine licence, and the government has not said whether it would guarantee a price for the power, which analysts say would decide whether the project is ever built.

"Tonight was not the finish line, it was the starting gun," said the council leader, Ros Penhale, who described the vote as "the biggest decision this town has taken in a century".

## Objections from the water

Fishing crews who work the bay warned that the gates would change the tides their boats depend on. The Mereland Bird Trust said the mudflats, where up to 40,000 wading birds spend the winter, could shrink by a third.

> We are being asked to trade a living bay for a power station on the promise of jobs nobody can yet count.

That was how Kit Garraway, who skippers one of the last six trawlers still landing at the harbour, put it to councillors. The consortium says it will fund a new fish market and a wetland reserve up the estuary to replace lost feeding grounds.

Construction, if approved, would take seven years and employ up to 2,000 people at its peak.
]],
}

local OPINION = {
  type = "opinion", author = "davy", section = "Opinion", hours_ago = 1,
  tags = { "Tidal Barrage", "Energy", "Fishing" },
  title = "A wall across the bay is a bet on a future we have not yet described",
  fields = {
    standfirst = "The barrage may well be worth building. But Halden Bay deserves to know what kind of town it is building it for.",
    pull_quote = "A town does not only run on electricity. It runs on the things it can still recognise about itself.",
    keywords = { "barrage" },
  },
  body = [[
There is a particular sound the bay makes at low water in November: a long exhale of wind over the mud, the clink of halyards in the marina, gulls arguing over whatever the trawlers have left. Last night the council voted to take the first step towards changing that sound for good.

I do not think councillors were wrong to do it. The case for tidal power is strong, the tides are reliable in a way the wind never will be, and the floods on Quay Street showed that doing nothing is also a choice with a price.

But the debate so far has been about megawatts and millions, and almost never about the town itself. A town does not only run on electricity. It runs on the things it can still recognise about itself: the harbour at dawn, the birds on the flats, the boats that go out whatever the weather.

The consortium's promise of a new fish market is welcome. Yet a fish market needs fish, and boats, and crews who can make a living. If the gates change the tides as the skippers fear, a shiny building on the quay will be a monument rather than a marketplace.

So here is a modest proposal for the inquiry. Before the turbines, ask for a plan for the people: guaranteed berths and compensation for the crews, a share of the profits for the town rather than only for the investors, and an honest account of what the mudflats will look like in twenty years.

If the barrage can pass that test, build it, and build it well. If it cannot, then last night's vote will be remembered as the moment the bay was sold for the price of its own power.
]],
}

-- More entries: { section, type, author, days ago, title, tags, dateline, standfirst, body paragraphs }.
-- The first two are newer than the lead and the opinion piece, so those have both neighbours.
local MORE = {
  { "News", "article", "maren", 0.02, "Barrage inquiry will sit in the evenings so working people can attend", { "Tidal Barrage", "Council" }, "Halden Bay",
    "The inspector agreed to two evening sessions a week after requests from fishing crews and shift workers.",
    { "Hearings will be held in the town hall and streamed to the library in Corrow.", "The inquiry is expected to last eight weeks." } },
  { "Opinion", "opinion", "olu", 0.01, "Let the inquiry hear from the people who work on the water", { "Tidal Barrage", "Fishing" }, nil,
    "The crews know the tides of Halden Bay better than any model. Their evidence should come first, not last.",
    { "A wave tank can show a tide falling by forty centimetres. A skipper can tell you what that does to a morning's work.", "Evening sessions are a start. Hearing the crews on the quay would be better." } },
  { "News", "article", "maren", 1, "Quay Street flood defences to be raised by half a metre", { "Flooding", "Council", "Harbour" }, "Halden Bay",
    "Temporary barriers will stay in place until the permanent wall is finished next autumn.",
    { "Work on the higher wall begins in January and will close one lane of Quay Street for six months.", "Shopkeepers flooded last winter said the news came late, but welcome." } },
  { "Business", "article", "petra", 2, "Merecoast Energy opens jobs office in the old customs house", { "Tidal Barrage", "Jobs", "Energy" }, "Halden Bay",
    "The consortium behind the barrage says it wants local people first in line for construction work.",
    { "The office will run training courses in welding, electrical work and marine safety.", "Critics called the move premature while the scheme still faces a public inquiry." } },
  { "Environment", "article", "olu", 3, "Winter count finds record numbers of knot on Halden mudflats", { "Birds", "Tidal Barrage", "Wildlife" }, "Halden Bay",
    "Volunteers counted 41,200 waders on a single tide, the highest total since records began.",
    { "Knot, dunlin and bar-tailed godwit made up most of the flocks.", "The Bird Trust says the count shows how much the flats matter as the barrage inquiry approaches." } },
  { "News", "article", "maren", 4, "Ferry crossings suspended as gales sweep the coast", { "Weather", "Transport", "Ferries" }, "Corrow",
    "Corrow Ferries cancelled every sailing on Tuesday as gusts reached 70 miles an hour.",
    { "The company said services would resume once the swell eased.", "Schools on the islands closed early so that pupils could get home." } },
  { "Business", "article", "petra", 5, "Last fish auction of the year draws buyers from three counties", { "Fishing", "Harbour", "Food" }, "Halden Bay",
    "Prices for hake and monkfish rose sharply as the fleet landed its final catch before Christmas.",
    { "Auctioneers said demand from restaurants inland had never been stronger.", "Skippers warned that fuel costs still ate most of the gains." } },
  { "Culture", "article", "ash", 6, "Lantern parade returns to the harbour after three-year gap", { "Festival", "Harbour", "Arts" }, "Halden Bay",
    "More than two thousand people walked from the church to the quay carrying paper lanterns.",
    { "This year's theme was the tide, with lanterns shaped as fish, boats and the moon.", "Organisers hope to make the parade an annual event again." } },
  { "Sport", "article", "ash", 7, "Halden Rovers reach county cup semi-final with late winner", { "Football", "Halden Rovers" }, "Estmere",
    "A header in the ninetieth minute settled a tense tie on a waterlogged pitch.",
    { "The Rovers have not reached the last four since 2009.", "They will face Vantle Town at home in February." } },
  { "Environment", "article", "olu", 8, "Seagrass planted off Corrow beach shows first signs of spreading", { "Wildlife", "Seagrass", "Climate" }, "Corrow",
    "Divers found new shoots a metre beyond the edge of last year's planting.",
    { "Seagrass stores carbon and shelters young fish.", "The project plans to plant two more hectares in the spring." } },
  { "News", "article", "maren", 9, "Council budget protects libraries but raises parking charges", { "Council", "Budget", "Libraries" }, "Halden Bay",
    "All five branch libraries stay open, paid for by higher charges at the seafront car parks.",
    { "Opposition councillors said the charges would hurt seafront traders.", "The budget will be put to a final vote in February." } },
  { "Business", "article", "petra", 10, "Boatyard wins contract to build two electric pilot boats", { "Jobs", "Harbour", "Energy" }, "Vantle",
    "The order secures forty jobs at the family-run yard for the next two years.",
    { "The boats will guide ships into the estuary without burning diesel.", "The yard's owner said electric hulls were the future of small working boats." } },
  { "Culture", "article", "ash", 11, "Museum restores the last sailing lifeboat built on the coast", { "Museum", "Harbour", "History" }, "Halden Bay",
    "The Grace Amelia, launched in 1899, has been rebuilt plank by plank by volunteers.",
    { "She saved more than a hundred lives in forty years of service.", "Visitors can watch the final coats of paint being applied this month." } },
  { "Sport", "article", "ash", 12, "Rowing club crews brave the swell for the Winter Head race", { "Rowing", "Harbour" }, "Halden Bay",
    "Thirty boats raced the three-mile course from the breakwater to the lighthouse.",
    { "The women's four from Corrow set a new course record.", "Two boats were swamped but all crews returned safely." } },
  { "Environment", "article", "olu", 13, "Engineers test how the barrage would change the tides in the estuary", { "Tidal Barrage", "Tides", "Science" }, "Halden Bay",
    "A scale model in a university wave tank suggests high tides inside the bay would fall by forty centimetres.",
    { "The results will be submitted to the public inquiry.", "Fishing crews asked for the model to be tested with winter storms too." } },
  { "News", "article", "maren", 14, "New bus route links the islands ferry to the hospital", { "Transport", "Health", "Ferries" }, "Corrow",
    "The service runs every hour and meets each ferry arriving from the islands.",
    { "Patients had complained of long waits for taxis at the terminal.", "The route is funded for a two-year trial." } },
  { "Business", "article", "petra", 15, "Harbour rents frozen for small fishing boats", { "Fishing", "Harbour", "Council" }, "Halden Bay",
    "Boats under ten metres will pay the same berth fees for the next three years.",
    { "The harbour board said it wanted to keep the smallest boats working.", "Marina berths for leisure craft will rise by six per cent." } },
  { "Culture", "article", "ash", 16, "Estmere folk festival announces its summer line-up", { "Festival", "Music" }, "Estmere",
    "Forty acts will play over three days on the green, with a new stage for young musicians.",
    { "Early tickets sold out within an hour.", "Organisers have added a shuttle bus from the railway station." } },
  { "Sport", "article", "ash", 17, "Vantle swimmer sets record crossing of the bay", { "Swimming", "Harbour" }, "Vantle",
    "Nia Cole swam the six miles from Vantle slipway to Halden quay in two hours and eleven minutes.",
    { "She trained through the autumn in water of eleven degrees.", "Her swim raised money for the lifeboat station." } },
  { "Environment", "article", "olu", 18, "Storm surge barrier tested for the first time", { "Flooding", "Weather", "Climate" }, "Estmere",
    "The gates on the Estmere river closed in nine minutes during a planned exercise.",
    { "The barrier protects three hundred homes behind the old sea wall.", "A second test will take place at night." } },
  { "News", "article", "maren", 19, "Primary school to move out of flood zone", { "Schools", "Flooding", "Council" }, "Corrow",
    "Corrow Primary will move to a new building on higher ground by 2028.",
    { "The old school flooded twice in the past five years.", "Parents welcomed the decision but asked for safe walking routes." } },
  { "Business", "article", "petra", 20, "Holiday lets cap approved for the old town", { "Housing", "Tourism", "Council" }, "Halden Bay",
    "No more than one in five homes on any street may be let to holidaymakers.",
    { "Landlords said the rule would cost the town visitors.", "Housing campaigners said it did not go far enough." } },
  { "Culture", "article", "ash", 21, "Photographer's exhibition captures a year on the trawlers", { "Arts", "Fishing", "Museum" }, "Halden Bay",
    "Sixty black-and-white prints follow the crew of the Morning Star through four seasons.",
    { "The exhibition opens at the maritime museum on Friday.", "Several of the crew will give talks during its run." } },
  { "Sport", "article", "ash", 22, "Halden Rovers sign goalkeeper from Vantle Town", { "Football", "Halden Rovers" }, "Halden Bay",
    "The club has paid an undisclosed fee for the 24-year-old keeper.",
    { "He kept eleven clean sheets last season.", "The manager called him the best young keeper on the coast." } },
  { "Environment", "article", "olu", 23, "Oyster beds return to the estuary after fifty years", { "Wildlife", "Fishing", "Food" }, "Estmere",
    "Native oysters laid in 2023 are now breeding on their own, scientists say.",
    { "The beds filter the water and shelter crabs and young fish.", "A small harvest may be allowed within five years." } },
  { "News", "article", "maren", 25, "Lighthouse keeper's cottage to become a youth hostel", { "Tourism", "History", "Housing" }, "Corrow",
    "The trust that owns the building has won permission to convert it into twenty beds.",
    { "The lighthouse itself will stay automatic.", "The hostel is due to open in time for next summer." } },
  { "Business", "article", "petra", 27, "Seaweed farm doubles its lines off Vantle", { "Food", "Jobs", "Fishing" }, "Vantle",
    "The farm now grows kelp on twelve kilometres of rope and sells to chefs and fertiliser makers.",
    { "It employs eight people, most of them former fishing crew.", "The owners say seaweed needs no feed, no fresh water and no fertiliser." } },
  { "Culture", "article", "ash", 29, "Library reading room reopens after restoration", { "Libraries", "History", "Arts" }, "Halden Bay",
    "The Victorian reading room has its painted ceiling back after two years of work.",
    { "Restorers found the original stars behind layers of white paint.", "Talks and readings will be held there every Thursday." } },
  { "Sport", "article", "ash", 31, "Sailing club launches free lessons for teenagers", { "Sailing", "Harbour", "Schools" }, "Halden Bay",
    "Forty places are on offer each summer for pupils at the town's two secondary schools.",
    { "The lessons are paid for by a local charity.", "The club says it wants sailing to belong to everyone in town." } },
  { "Environment", "article", "olu", 33, "Plastic found in every sample taken from the bay", { "Pollution", "Wildlife", "Science" }, "Halden Bay",
    "University researchers found tiny fragments in all sixty samples of mud and water.",
    { "Most came from fishing rope and packaging.", "The council will add more bins along the beach this spring." } },
  { "News", "article", "maren", 35, "Harbour bridge closed at night for repairs", { "Transport", "Harbour" }, "Halden Bay",
    "The swing bridge will shut from ten at night until six in the morning for three weeks.",
    { "Drivers face a four-mile detour around the inner harbour.", "Pedestrians can still cross on a temporary walkway." } },
  { "Business", "article", "petra", 37, "Barrage consortium names preferred turbine maker", { "Tidal Barrage", "Energy", "Jobs" }, "Halden Bay",
    "Turbines would be assembled in a new factory at Vantle docks if the scheme is approved.",
    { "The factory could employ three hundred people for a decade.", "The choice still depends on the outcome of the public inquiry." } },
  { "Culture", "article", "ash", 39, "Sea shanty choir records its first album in the net loft", { "Music", "Harbour" }, "Corrow",
    "Twenty-two singers recorded fourteen songs in two days in the old net loft.",
    { "Profits will go to the fishermen's mission.", "The album launch will be on the quay in the spring." } },
  { "Sport", "article", "ash", 41, "Coastal path ultramarathon attracts runners from twelve countries", { "Running", "Tourism" }, "Estmere",
    "Four hundred runners will tackle the 50-mile route from Estmere to Vantle.",
    { "The race raises money for the coastguard.", "Part of the path will close to walkers on race day." } },
  { "Environment", "article", "olu", 44, "Seals pup on Halden sandbank for the first time in decades", { "Wildlife", "Birds" }, "Halden Bay",
    "Wardens counted seven grey seal pups on the outer sandbank this autumn.",
    { "Visitors are asked to keep their dogs on leads and stay well back.", "The sandbank lies outside the line of the planned barrage." } },
  { "News", "article", "maren", 47, "Coastguard station gets a new inshore lifeboat", { "Harbour", "Lifeboats" }, "Vantle",
    "The new boat is faster and can work in shallower water than the one it replaces.",
    { "Crews will train on it through the winter.", "The old boat goes to a station in the north." } },
  { "Business", "article", "petra", 50, "Market hall traders vote to stay open on Sundays", { "Food", "Tourism", "Jobs" }, "Halden Bay",
    "Sunday trading will continue after a trial brought record visitor numbers.",
    { "Twenty-six of the thirty traders backed the change.", "The hall will close on Mondays instead." } },
  { "Opinion", "opinion", "davy", 6, "The ferry is not a luxury, it is a lifeline", { "Ferries", "Transport" }, nil,
    "Every cancelled crossing is a missed appointment, a lost shift, a child who cannot get to school.",
    { "We talk about the ferry as if it were a service. For the islands it is the road.", "A coast that wants people to keep living on its islands must treat the crossing like a bridge: always there." } },
  { "Opinion", "opinion", "olu", 12, "Count the birds before we count the megawatts", { "Tidal Barrage", "Birds", "Wildlife" }, nil,
    "The mudflats are not empty space waiting for a use. They are already one of the busiest places on the coast.",
    { "Forty thousand birds do not show up in a business case.", "The inquiry should ask for ten years of counts, not one winter's." } },
  { "Opinion", "opinion", "petra", 20, "Holiday lets are a symptom, not the disease", { "Housing", "Tourism" }, nil,
    "Caps on holiday lets will not build a single new home for the people who work here.",
    { "The old town is pretty because people once could afford to live in it.", "We need homes the town owns, let at rents the town can pay." } },
  { "Opinion", "opinion", "davy", 30, "What the lantern parade tells us about Halden Bay", { "Festival", "Harbour" }, nil,
    "For one night the quay belonged to everyone. That is worth remembering in a year of hard choices.",
    { "Nobody asked who was local and who was new.", "Towns are held together by rituals like this more than by budgets." } },
  { "News", "article", "maren", 53, "Volunteers clear two tonnes of rubbish from the estuary", { "Pollution", "Wildlife" }, "Estmere",
    "A hundred and twenty volunteers worked along six miles of shore at low tide.",
    { "They found three shopping trolleys, a bicycle and a ship's figurehead.", "The figurehead has been given to the maritime museum." } },
  { "Culture", "article", "ash", 56, "Poet laureate of the coast named", { "Arts", "Libraries" }, "Halden Bay",
    "Fen Marsh, a former deckhand, will write poems for the towns of the coast for two years.",
    { "Her first collection was written on the night watch.", "She will run workshops in every library on the coast." } },
}

-- Comments: { story key, name, email, url, body, status, reply to (index in this list) }
local COMMENTS = {
  { "lead", "Hannah P.", "hannah@readers.example", nil, "Good. We flooded twice last year and nobody had a better idea. Build it.", "approved" },
  { "lead", "Kit G.", "kit@readers.example", nil, "Easy to say from dry land. Ask the crews what happens to the **tides** inside the wall.", "approved", 1 },
  { "lead", "Hannah P.", "hannah@readers.example", nil, "I have asked them. That's why I want the inquiry to look at it properly, not to stop it.", "approved", 2 },
  { "lead", "Sam Q.", "sam@readers.example", "https://sam.example", "The engineering study is worth a read: [university wave tank results](https://uni.example/barrage).", "approved" },
  { "lead", "First time here", "new@readers.example", nil, "Will there be a public meeting before the inquiry?", "held" },
  { "opinion", "Rosa T.", "rosa@readers.example", nil, "The best thing written about the barrage so far. *A plan for the people* should be the inquiry's first question.", "approved" },
  { "opinion", "Bren", "bren@readers.example", nil, "Nostalgia doesn't keep the lights on.", "approved" },
  { "opinion", "Rosa T.", "rosa@readers.example", nil, "It isn't nostalgia to ask who gets the profits.", "approved", 7 },
  { "opinion", "A. Reader", "spam@readers.example", "https://cheap-watches.example", "Great post!!! Visit my site for great deals", "held" },
}

local function stamp(seconds_ago)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - seconds_ago)
end

-- Pictures drawn at init (core.media_draw: a coastal scene whose light depends on its seed)
-- and put through the media library, so they get responsive sizes like any upload:
-- { story (the lead, or a title in MORE), seed, width, height }.
local LIGHT = { [0] = "at dawn", "under a clear sky", "at dusk", "under a grey sky" }
local PICTURES = {
  { "lead", 2, 1600, 900 },
  { "Barrage inquiry will sit in the evenings so working people can attend", 3, 960, 540 },
  { "Quay Street flood defences to be raised by half a metre", 8, 960, 540 },
  { "Merecoast Energy opens jobs office in the old customs house", 1, 960, 540 },
  { "Winter count finds record numbers of knot on Halden mudflats", 12, 960, 540 },
  { "Ferry crossings suspended as gales sweep the coast", 11, 960, 540 },
  { "Lantern parade returns to the harbour after three-year gap", 6, 960, 540 },
  { "Halden Rovers reach county cup semi-final with late winner", 5, 960, 540 },
}

-- Comments on older stories, over the days since they appeared: { title, name, email, body, hours ago }.
local LATER_COMMENTS = {
  { "Ferry crossings suspended as gales sweep the coast", "Morag on Inish", "morag@readers.example", "Third cancelled crossing this month. The islands need a bigger boat.", 90 },
  { "Ferry crossings suspended as gales sweep the coast", "Tom B.", "tomb@readers.example", "The crews were right not to sail. That swell was no joke.", 70 },
  { "Ferry crossings suspended as gales sweep the coast", "Morag on Inish", "morag@readers.example", "Nobody is blaming the crews, Tom. We are asking for a timetable we can plan around.", 46 },
  { "Winter count finds record numbers of knot on Halden mudflats", "Jess W.", "jess@readers.example", "I helped with the count on the north shore. An astonishing morning.", 60 },
  { "Winter count finds record numbers of knot on Halden mudflats", "Peter K.", "peterk@readers.example", "This is exactly what the inquiry needs to hear about.", 30 },
  { "Merecoast Energy opens jobs office in the old customs house", "Dan R.", "dan@readers.example", "Good to see training on offer, whatever happens with the barrage.", 40 },
  { "Merecoast Energy opens jobs office in the old customs house", "Lou F.", "lou@readers.example", "Jobs before the inquiry has even sat? That is putting the cart before the horse.", 20 },
}

-- Fills the open site (the `quire` API) with the demo. Returns a summary line.
function M.seed(quire)
  local made = { entries = 0, comments = 0, held = 0, pictures = 0 }
  local ids, by_title = {}, {}
  -- The pictures first: drawn into a temporary file each, then imported (outside the transaction).
  local core = require "quire.core"
  local media = {}
  for _, p in ipairs(PICTURES) do
    local path = os.tmpname() .. ".jpg"
    local ok, err = core.media_draw(path, p[3], p[4], p[2])
    if not ok then error("drawing a demo picture: " .. tostring(err), 0) end
    -- Titled by what it shows (the library lists titles), not by the temporary file's name.
    local row, aerr = quire.media.add(path, { alt = "The sea between two green headlands " .. LIGHT[p[2] % 4] .. ", waves catching the sun",
      credit = "Photo illustration: Mereland Courier" }, ("Headlands %s %d.jpg"):format(LIGHT[p[2] % 4], p[2]))
    os.remove(path)
    os.remove(path:sub(1, -5))
    if not row then error("importing a demo picture: " .. tostring(aerr), 0) end
    media[p[1]] = row.id
    made.pictures = made.pictures + 1
  end
  -- Their AVIF copies too (a couple of seconds), so a new site serves them from its first page
  -- rather than changing its pictures under a reader when the workers' background work is done.
  quire.media.make_avif()
  quire.store.transaction(function()
    for _, u in ipairs(USERS) do quire.users.create(u) end
    for i, m in ipairs(MORE) do
      local section, type_, author, days, title, tags, dateline, standfirst, paras = table.unpack(m, 1, 9)
      -- Whole days are spread over the working day; a fraction of a day is exact.
      local ago = days >= 1 and (days * 86400 + (i * 7) % 10 * 3600) or math.floor(days * 86400)
      ids[#ids + 1] = quire.content.create {
        type = type_, title = title, author = author, section = section, tags = tags, status = "published",
        published_at = stamp(ago),
        fields = { dateline = dateline, standfirst = standfirst, hero_media = media[title] },
        -- The standfirst is shown above the body, so the body does not repeat it.
        body = table.concat(paras, "\n\n"),
      }
      by_title[title] = { id = ids[#ids], ago = ago }
      made.entries = made.entries + 1
    end
    local keyed = {}
    for _, pair in ipairs({ { "lead", LEAD }, { "opinion", OPINION } }) do
      local key, e = pair[1], pair[2]
      local fields = {}
      for k, v in pairs(e.fields) do fields[k] = v end
      fields.hero_media = media[key]
      keyed[key] = quire.content.create {
        type = e.type, title = e.title, author = e.author, section = e.section, tags = e.tags, status = "published",
        published_at = stamp(e.hours_ago * 3600), fields = fields, body = e.body,
      }
      made.entries = made.entries + 1
    end
    local db = quire._db
    local comment_ids = {}
    local hours = { lead = LEAD.hours_ago, opinion = OPINION.hours_ago }
    for i, c in ipairs(COMMENTS) do
      comment_ids[i] = quire.comments.create {
        entry = keyed[c[1]], author_name = c[2], author_email = c[3], author_url = c[4], body = c[5], status = c[6],
        parent = c[7] and comment_ids[c[7]] or nil,
      }
      -- Readers wrote over the hours since the story appeared, replies after what they answer.
      local span = hours[c[1]] * 3600
      db:exec("UPDATE comments SET created_at = ? WHERE id = ?", stamp(math.floor(span * (1 - i / (#COMMENTS + 1)) - 300)), comment_ids[i])
      made.comments = made.comments + 1
      if c[6] == "held" then made.held = made.held + 1 end
    end
    for _, c in ipairs(LATER_COMMENTS) do
      local story = by_title[c[1]]
      local id = quire.comments.create { entry = story.id, author_name = c[2], author_email = c[3], body = c[4], status = "approved" }
      db:exec("UPDATE comments SET created_at = ? WHERE id = ?", stamp(math.min(c[5] * 3600 + 17 * (id % 50), story.ago - 600)), id)
      made.comments = made.comments + 1
    end
    -- A few shares, as if readers had clicked (each client counts once per network).
    for n, net in ipairs({ "facebook", "x", "linkedin", "email" }) do
      for client = 1, 9 - 2 * n do quire.shares.record(keyed.lead, net, "demo-reader-" .. client) end
      for client = 1, 5 - n do quire.shares.record(keyed.opinion, net, "demo-reader-" .. client) end
    end
    -- The front page as an editor would set it: the barrage vote leads, the opinion piece and
    -- the inquiry story next; the Environment front leads with the bird count.
    quire.front.set("home", 1, keyed.lead)
    quire.front.set("home", 2, by_title["Barrage inquiry will sit in the evenings so working people can attend"].id)
    quire.front.set("home", 3, by_title["Quay Street flood defences to be raised by half a metre"].id)
    quire.front.set("section:Environment", 1, by_title["Winter count finds record numbers of knot on Halden mudflats"].id)
    -- A day of readers: views over the last 24 hours, the lead read most, then ranked.
    local hour = os.time() // 3600
    local read = { keyed.lead, keyed.opinion }
    for i = 1, 12 do read[#read + 1] = ids[i] end
    for rank, id in ipairs(read) do
      for h = 0, 23, 3 do
        db:exec("INSERT INTO entry_views (entry_id, hour, count) VALUES (?, ?, ?)", id, hour - h, (40 - rank * 2) * (24 - h) // 8 + rank % 3)
      end
    end
  end)
  quire.front.rank()
  return ("%d entries (a datelined news story and an opinion piece on the Halden Bay barrage, and %d more), "
    .. "%d pictures, %d comments (%d held for moderation), %d authors, an edited front page"):format(made.entries, #MORE, made.pictures,
    made.comments, made.held, #USERS)
end

return M
