//! Building the parts of a parcel from the pools: consignees, exporters, addresses, goods.
//!
//! Every function draws from the generator's [`Rng`] in a fixed order, so a seed gives the
//! same parcels. Strings are written into one buffer each (`push_str`, `write!`) rather than
//! assembled from temporaries, to keep the generator fast.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::pools::{
    Category, Culture, Destination, Goods, Origin, StreetStyle, CULTURES, CULTURE_WEIGHTS, GOODS,
};
use super::record::{cents, Address, Item, Money, Party};
use super::rng::Rng;

/// Letters used in British, Dutch and Canadian postal codes.
const POSTCODE_LETTERS: &[u8] = b"ABDEFGHJLNPRSTUWXYZ";

/// Tables derived once from the pools.
pub(crate) struct Tables {
    /// Per destination (index as in `DESTINATIONS`), the weighted cultures of consignees.
    pub cultures_by_destination: Vec<Vec<(usize, u32)>>,
    /// Per category, the indexes of its goods in `GOODS`.
    pub goods_by_category: Vec<(Category, Vec<usize>)>,
}

impl Tables {
    pub(crate) fn new(destinations: &[Destination]) -> Self {
        let cultures_by_destination = destinations
            .iter()
            .map(|destination| {
                CULTURE_WEIGHTS
                    .iter()
                    .enumerate()
                    .map(|(culture, weight)| {
                        let bonus: u32 = destination
                            .local_cultures
                            .iter()
                            .filter(|(local, _)| *local == culture)
                            .map(|(_, bonus)| *bonus)
                            .sum();
                        (culture, weight + bonus)
                    })
                    .collect()
            })
            .collect();
        let mut goods_by_category: Vec<(Category, Vec<usize>)> = Vec::new();
        for (index, goods) in GOODS.iter().enumerate() {
            match goods_by_category
                .iter_mut()
                .find(|(category, _)| *category == goods.category)
            {
                Some((_, indexes)) => indexes.push(index),
                None => goods_by_category.push((goods.category, vec![index])),
            }
        }
        Tables {
            cultures_by_destination,
            goods_by_category,
        }
    }
}

// ---- people ----

/// A natural person's name in the manner of `culture`: given name and surname, sometimes a
/// middle initial, surname first for some East Asian names, sometimes all capitals as
/// courier manifests write them.
pub(crate) fn person_name(rng: &mut Rng, culture: &Culture) -> String {
    let female = rng.chance(0.5);
    let given = rng
        .pick(if female { culture.female } else { culture.male })
        .copied()
        .unwrap_or("Alex");
    let surname = rng.pick(culture.surnames).copied().unwrap_or("Lee");
    let surname_first = rng.chance(culture.surname_first_share);
    let middle_initial = if !surname_first && rng.chance(0.08) {
        Some(char::from(b'A' + rng.below(26) as u8))
    } else {
        None
    };
    let upper = rng.chance(0.12);

    let mut name = String::with_capacity(given.len() + surname.len() + 8);
    let push_surname = |name: &mut String| {
        if female && culture.feminine_surnames {
            push_feminine_surname(name, surname);
        } else {
            name.push_str(surname);
        }
    };
    if surname_first {
        push_surname(&mut name);
        name.push(' ');
        name.push_str(given);
    } else {
        name.push_str(given);
        name.push(' ');
        if let Some(initial) = middle_initial {
            name.push(initial);
            name.push_str(". ");
        }
        push_surname(&mut name);
    }
    if upper {
        name = name.to_uppercase();
    }
    name
}

/// Slavic surname agreement: Ivanov → Ivanova, Kowalski → Kowalska; others unchanged.
fn push_feminine_surname(name: &mut String, surname: &str) {
    if let Some(stem) = surname
        .strip_suffix("ski")
        .or_else(|| surname.strip_suffix("cki"))
    {
        name.push_str(stem);
        name.push_str(if surname.ends_with("ski") {
            "ska"
        } else {
            "cka"
        });
    } else if surname.ends_with("ov") || surname.ends_with("ev") || surname.ends_with("in") {
        name.push_str(surname);
        name.push('a');
    } else {
        name.push_str(surname);
    }
}

/// A natural person's name with a given name of one culture and a surname of another, both
/// drawn at random (see `FeedConfig::new_name_share`), in the surname's manner.
pub(crate) fn mixed_person_name(rng: &mut Rng) -> String {
    let given = rng.pick(CULTURES).unwrap_or(&CULTURES[0]);
    let surname = rng.pick(CULTURES).unwrap_or(&CULTURES[0]);
    let mixed = Culture {
        female: given.female,
        male: given.male,
        ..*surname
    };
    person_name(rng, &mixed)
}

/// A consignee: a natural person at a home address in the destination country, named in
/// the manner of a culture of that country.
pub(crate) fn consignee(
    rng: &mut Rng,
    tables: &Tables,
    destination_index: usize,
    destination: &Destination,
) -> Party {
    let culture = tables
        .cultures_by_destination
        .get(destination_index)
        .and_then(|weights| rng.weighted(weights))
        .and_then(|culture| CULTURES.get(*culture))
        .unwrap_or(&CULTURES[0]);
    let name = person_name(rng, culture);
    let address = home_address(rng, destination);
    let phone = phone_number(rng, destination.phone_prefix, 10);
    Party {
        name,
        address,
        phone: Some(phone),
    }
}

fn home_address(rng: &mut Rng, destination: &Destination) -> Address {
    let city = rng.pick(destination.cities);
    let street = rng.pick(destination.streets).copied().unwrap_or("Main St");
    let (city_name, region, postal_prefix) = city
        .map(|c| (c.name, c.region, c.postal_prefix))
        .unwrap_or(("Springfield", None, ""));
    let number = rng.range(1, 240);
    let mut lines = Vec::with_capacity(2);
    let mut postal = String::with_capacity(8);
    postal.push_str(postal_prefix);
    match destination.country {
        "US" => {
            lines.push(format!("{number} {street}"));
            if rng.chance(0.3) {
                lines.push(format!(
                    "Apt {}{}",
                    rng.range(1, 30),
                    char::from(b'A' + rng.below(6) as u8)
                ));
            }
            let _ = write!(postal, "{:02}", rng.below(100));
        }
        "GB" => {
            if rng.chance(0.25) {
                lines.push(format!("Flat {}, {number} {street}", rng.range(1, 12)));
            } else {
                lines.push(format!("{number} {street}"));
            }
            postal.push(' ');
            push_digit(rng, &mut postal);
            push_letters(rng, &mut postal, 2);
        }
        "DE" | "NL" => {
            lines.push(format!("{street} {number}"));
            if destination.country == "DE" {
                let _ = write!(postal, "{:03}", rng.below(1000));
            } else {
                let _ = write!(postal, "{:02} ", rng.below(100));
                push_letters(rng, &mut postal, 2);
            }
        }
        "FR" => {
            lines.push(format!("{number} {street}"));
            if rng.chance(0.2) {
                lines.push(format!(
                    "Bâtiment {}",
                    char::from(b'A' + rng.below(4) as u8)
                ));
            }
            let _ = write!(postal, "{:02}", rng.range(1, 20));
        }
        _ => {
            // Canada: "M5V 2T6".
            lines.push(format!("{number} {street}"));
            if rng.chance(0.3) {
                lines.push(format!("Unit {}", rng.range(100, 2400)));
            }
            push_digit(rng, &mut postal);
            push_letters(rng, &mut postal, 1);
            postal.push(' ');
            push_digit(rng, &mut postal);
            push_letters(rng, &mut postal, 1);
            push_digit(rng, &mut postal);
        }
    }
    Address {
        lines,
        city: Cow::Borrowed(city_name),
        region,
        postal_code: Some(postal),
        country: Cow::Borrowed(destination.country),
    }
}

fn push_digit(rng: &mut Rng, text: &mut String) {
    text.push(char::from(b'0' + rng.below(10) as u8));
}

fn push_letters(rng: &mut Rng, text: &mut String, count: usize) {
    for _ in 0..count {
        let letter = POSTCODE_LETTERS[rng.index(POSTCODE_LETTERS.len())];
        text.push(char::from(letter));
    }
}

/// `+1 217 555 0100`-like: the prefix, then `digits` digits in groups of 3, 3 and the rest.
pub(crate) fn phone_number(rng: &mut Rng, prefix: &str, digits: u32) -> String {
    let mut phone = String::with_capacity(prefix.len() + digits as usize + 4);
    phone.push_str(prefix);
    for position in 0..digits {
        if position == 0 || position == 3 || position == 6 {
            phone.push(' ');
        }
        // No leading zero after the country code.
        let digit = if position == 0 {
            rng.range(1, 9)
        } else {
            rng.below(10)
        };
        phone.push(char::from(b'0' + digit as u8));
    }
    phone
}

// ---- exporters ----

/// An exporter of `origin`, and what it sells. Its address and phone are drawn from a
/// generator seeded with its identity, so a given exporter always has the same address.
pub(crate) fn exporter(rng: &mut Rng, origin: &Origin, seed: u64) -> (Party, Category) {
    let city_index = rng.index(origin.cities.len());
    let brand_index = rng.index(origin.brands.len());
    let product_index = rng.index(origin.products.len());
    let legal_index = rng.index(origin.legal_forms.len());
    let city_prefix = rng.chance(origin.city_prefix_share);

    let city = origin.cities.get(city_index);
    let brand = origin.brands.get(brand_index).copied().unwrap_or("Sunrise");
    let (product, category) = origin
        .products
        .get(product_index)
        .copied()
        .unwrap_or(("Trading", Category::Home));
    let mut legal = origin
        .legal_forms
        .get(legal_index)
        .copied()
        .unwrap_or("Ltd");
    if legal == product {
        legal = origin.legal_forms.first().copied().unwrap_or("Ltd");
    }
    let mut name = String::with_capacity(64);
    if city_prefix {
        if let Some(city) = city {
            name.push_str(city.name);
            name.push(' ');
        }
    }
    name.push_str(brand);
    name.push(' ');
    name.push_str(product);
    name.push(' ');
    name.push_str(legal);

    // The exporter's own generator: same identity, same address.
    let identity = (city_index as u64)
        | (brand_index as u64) << 8
        | (product_index as u64) << 16
        | (legal_index as u64) << 24
        | u64::from(city_prefix) << 32;
    let mut own = Rng::new(seed ^ identity.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    own.next_u64();
    let address = business_address(&mut own, origin, city);
    let phone = phone_number(&mut own, origin.phone_prefix, 10);
    (
        Party {
            name,
            address,
            phone: Some(phone),
        },
        category,
    )
}

fn business_address(
    rng: &mut Rng,
    origin: &Origin,
    city: Option<&super::pools::OriginCity>,
) -> Address {
    let (city_name, postal_prefix, districts) = city
        .map(|c| (c.name, c.postal_prefix, c.districts))
        .unwrap_or(("", "", &[] as &[&str]));
    let street = rng.pick(origin.streets).copied().unwrap_or("Station");
    let district = rng.pick(districts).copied();
    let number = rng.range(1, 380);
    let mut lines = Vec::with_capacity(2);
    match origin.street_style {
        StreetStyle::Chinese => lines.push(format!("No. {number} {street} Road")),
        StreetStyle::HongKong => lines.push(format!(
            "Unit {}, {}/F, {number} {street} Road",
            rng.range(1, 20),
            rng.range(2, 28)
        )),
        StreetStyle::Vietnamese => lines.push(format!("{number} {street} Street")),
        StreetStyle::Turkish => lines.push(format!("{street} Caddesi No: {number}")),
        StreetStyle::Indian => lines.push(format!("Plot {number}, {street} Road")),
        StreetStyle::Mexican => lines.push(format!("Av. {street} {}", number * 7)),
        StreetStyle::British => lines.push(format!("Unit {}, {number} {street}", rng.range(1, 40))),
        StreetStyle::German => lines.push(format!("{street} {number}")),
    }
    if let Some(district) = district {
        if origin.street_style != StreetStyle::German {
            lines.push(district.to_string());
        }
    }
    let postal_code = match origin.postal_suffix_digits {
        0 if postal_prefix.is_empty() => None,
        0 => {
            // British: "M4 5AB".
            let mut postal = String::with_capacity(8);
            postal.push_str(postal_prefix);
            postal.push(' ');
            push_digit(rng, &mut postal);
            push_letters(rng, &mut postal, 2);
            Some(postal)
        }
        digits => {
            let mut postal = String::with_capacity(8);
            postal.push_str(postal_prefix);
            for _ in 0..digits {
                push_digit(rng, &mut postal);
            }
            Some(postal)
        }
    };
    Address {
        lines,
        city: Cow::Borrowed(city_name),
        region: None,
        postal_code,
        country: Cow::Borrowed(origin.country),
    }
}

/// A known shipper's one-line enrolled address (`"88 Keyuan Road, Nanshan District,
/// Shenzhen 518057"`) as address fields: the last comma-separated part is the city with its
/// postal code, the parts before it are the lines.
pub(crate) fn split_enrolled_address(address: &str, country: &str) -> Address {
    let parts: Vec<&str> = address
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect();
    let (lines, last) = match parts.split_last() {
        Some((last, lines)) if !lines.is_empty() => (lines.to_vec(), *last),
        Some((last, _)) => (vec![*last], *last),
        None => (vec![address], address),
    };
    // "Shenzhen 518057", "Kyoto 605-0846": the postal code is the last word with a digit.
    let (city, postal_code) = match last.rsplit_once(' ') {
        Some((city, code)) if code.bytes().any(|b| b.is_ascii_digit()) => {
            (city.trim(), Some(code.to_string()))
        }
        _ => (last, None),
    };
    Address {
        lines: lines.into_iter().map(str::to_string).collect(),
        city: Cow::Owned(city.to_string()),
        region: None,
        postal_code,
        country: Cow::Owned(country.to_string()),
    }
}

// ---- goods ----

/// 1 to 4 items, mostly of the exporter's category, priced in the destination's currency.
/// Returns the items and their gross weight in kilograms.
// `&Cow`, not `&str`: cloning a borrowed `Cow` into each item allocates nothing.
#[allow(clippy::ptr_arg)]
pub(crate) fn items(
    rng: &mut Rng,
    tables: &Tables,
    category: Category,
    destination: &Destination,
    origin_country: &Cow<'static, str>,
) -> (Vec<Item>, f64) {
    let count = match rng.below(100) {
        0..=54 => 1,
        55..=79 => 2,
        80..=91 => 3,
        _ => 4,
    };
    let own_category = tables
        .goods_by_category
        .iter()
        .find(|(c, _)| *c == category)
        .map(|(_, indexes)| indexes.as_slice())
        .unwrap_or(&[]);
    let mut items = Vec::with_capacity(count + 1);
    let mut weight = rng.uniform(0.05, 0.3);
    for _ in 0..count {
        let goods = if !own_category.is_empty() && rng.chance(0.8) {
            own_category
                .get(rng.index(own_category.len()))
                .and_then(|index| GOODS.get(*index))
        } else {
            rng.pick(GOODS)
        };
        let Some(goods) = goods else { continue };
        let quantity = match rng.below(10) {
            0..=6 => 1,
            7..=8 => 2,
            _ => 3,
        };
        weight += goods.weight_kg * f64::from(quantity);
        items.push(item(rng, goods, quantity, destination, origin_country));
    }
    (items, cents(weight).max(0.05))
}

/// One item line: `quantity` of `goods` at a price drawn from its range.
#[allow(clippy::ptr_arg)]
pub(crate) fn item(
    rng: &mut Rng,
    goods: &Goods,
    quantity: u32,
    destination: &Destination,
    origin_country: &Cow<'static, str>,
) -> Item {
    let unit_price = rng.uniform(goods.price_usd.0, goods.price_usd.1) * destination.per_usd;
    Item {
        description: goods.description,
        hs_code: goods.hs_code,
        quantity,
        value: Money {
            amount: cents(unit_price * f64::from(quantity)).max(0.5),
            currency: destination.currency,
        },
        country_of_origin: origin_country.clone(),
    }
}

/// Scales the items down so that their total is at most `limit`.
pub(crate) fn cap_items(items: &mut [Item], limit: f64) {
    let total: f64 = items.iter().map(|item| item.value.amount).sum();
    if total <= limit || total <= 0.0 {
        return;
    }
    let factor = limit / total;
    for item in items {
        item.value.amount = cents((item.value.amount * factor).max(0.01));
    }
}
