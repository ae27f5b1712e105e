//! Deterministic sample clients: realistic Brazilian names, addresses, phones and valid CPFs, the
//! same for a given count on every machine and every run (a fixed-seed generator written here,
//! so a dependency upgrade cannot change the data). Owns nothing but the sample data.

use crate::accounts::User;
use crate::field_rules::cpf_check_digit;
use crate::record::{Client, PaymentStatus, Status, now_timestamp};

const FIRST_NAMES: [&str; 20] = [
    "Ana",
    "João",
    "Maria",
    "Pedro",
    "Juliana",
    "Lucas",
    "Fernanda",
    "Rafael",
    "Beatriz",
    "Gabriel",
    "Camila",
    "Mateus",
    "Larissa",
    "Gustavo",
    "Patrícia",
    "Bruno",
    "Aline",
    "Thiago",
    "Vanessa",
    "Rodrigo",
];
const SURNAMES: [&str; 20] = [
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Costa",
    "Ribeiro",
    "Martins",
    "Carvalho",
    "Almeida",
    "Lopes",
    "Soares",
    "Fernandes",
    "Vieira",
    "Barbosa",
];
/// City, UF, phone area code, first five CEP digits, a neighbourhood, a street.
const PLACES: [(&str, &str, u32, &str, &str, &str); 10] = [
    ("São Paulo", "SP", 11, "01310", "Bela Vista", "Avenida Paulista"),
    (
        "Rio de Janeiro",
        "RJ",
        21,
        "22041",
        "Copacabana",
        "Rua Barata Ribeiro",
    ),
    (
        "Belo Horizonte",
        "MG",
        31,
        "30130",
        "Centro",
        "Avenida Afonso Pena",
    ),
    ("Salvador", "BA", 71, "40140", "Barra", "Avenida Oceânica"),
    ("Curitiba", "PR", 41, "80020", "Centro", "Rua XV de Novembro"),
    (
        "Porto Alegre",
        "RS",
        51,
        "90010",
        "Centro Histórico",
        "Rua dos Andradas",
    ),
    ("Recife", "PE", 81, "51020", "Boa Viagem", "Avenida Boa Viagem"),
    ("Fortaleza", "CE", 85, "60165", "Meireles", "Avenida Beira Mar"),
    ("Brasília", "DF", 61, "70040", "Asa Norte", "SCN Quadra 2"),
    ("Florianópolis", "SC", 48, "88015", "Centro", "Rua Felipe Schmidt"),
];
const PRICES: [f64; 5] = [120.0, 150.0, 180.0, 200.0, 250.0];

/// `count` sample clients owned by `owner`, all stamped with the current time.
pub(crate) fn sample_clients(count: u32, owner: &User) -> Vec<Client> {
    let mut rng = SplitMix64(0x6765_7374_6f72); // "gestor"
    let now = now_timestamp();
    (0..count)
        .map(|_| {
            let first = pick(&mut rng, &FIRST_NAMES);
            let last = pick(&mut rng, &SURNAMES);
            let (city, uf, ddd, cep5, neighborhood, street) = pick(&mut rng, &PLACES);
            let email = format!(
                "{}.{}{}@example.com.br",
                ascii_lower(first),
                ascii_lower(last),
                rng.below(100)
            );
            let payment_status = match rng.below(10) {
                0..=5 => PaymentStatus::Pago,
                6..=8 => PaymentStatus::APagar,
                _ => PaymentStatus::Cancelado,
            };
            Client {
                id: 0,
                user_id: owner.id.to_string(),
                name: format!("{first} {last}"),
                email: Some(email),
                phone: Some(format!(
                    "({ddd}) 9{:04}-{:04}",
                    rng.below(10_000),
                    rng.below(10_000)
                )),
                cpf: Some(cpf(&mut rng)),
                birth_date: Some(format!(
                    "{}-{:02}-{:02}",
                    1950 + rng.below(55),
                    1 + rng.below(12),
                    1 + rng.below(28)
                )),
                cep: Some(format!("{cep5}{:03}", rng.below(1000))),
                street: Some(street.to_owned()),
                number: Some((1 + rng.below(2000)).to_string()),
                complement: (rng.below(3) == 0).then(|| format!("Apto {}", 11 + rng.below(180))),
                neighborhood: Some(neighborhood.to_owned()),
                city: Some(city.to_owned()),
                state: Some(uf.to_owned()),
                address: None,
                notes: (rng.below(4) == 0).then(|| "Prefere atendimento pela manhã".to_owned()),
                status: if rng.below(8) == 0 {
                    Status::Inactive
                } else {
                    Status::Active
                },
                payment_status,
                consultation_price: Some(pick(&mut rng, &PRICES)),
                created_at: now.clone(),
                updated_at: now.clone(),
            }
        })
        .collect()
}

/// A CPF with valid check digits whose first nine digits are not all equal.
fn cpf(rng: &mut SplitMix64) -> String {
    let mut d: Vec<u32> = (0..9).map(|_| rng.below(10) as u32).collect();
    if d.iter().all(|&x| x == d[0]) {
        d[8] = (d[8] + 1) % 10;
    }
    d.push(cpf_check_digit(&d));
    d.push(cpf_check_digit(&d));
    d.iter().map(|x| char::from(b'0' + *x as u8)).collect()
}

/// E-mail local parts are ASCII: drop the accents of Portuguese names.
fn ascii_lower(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' | 'â' | 'ã' | 'à' => 'a',
            'é' | 'ê' => 'e',
            'í' => 'i',
            'ó' | 'ô' | 'õ' => 'o',
            'ú' => 'u',
            'ç' => 'c',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn pick<T: Copy>(rng: &mut SplitMix64, items: &[T]) -> T {
    items[rng.below(items.len() as u64) as usize]
}

/// SplitMix64: tiny, fast and fully specified, which is all sample data needs.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough below `n` for sample data (modulo bias is irrelevant here).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field_rules::{is_calendar_date, is_email, normalize_cep, normalize_cpf};

    #[test]
    fn samples_pass_the_api_own_rules_and_repeat_exactly() {
        let owner = User {
            id: "00000000-0000-4000-8000-000000000000".into(),
            name: "o".into(),
            email: "o@x.io".into(),
        };
        let a = sample_clients(300, &owner);
        for c in &a {
            let cpf = c.cpf.as_deref().unwrap_or_default();
            assert_eq!(normalize_cpf(cpf).as_deref(), Some(cpf), "{c:?}");
            assert!(is_email(c.email.as_deref().unwrap_or_default()), "{c:?}");
            assert!(
                is_calendar_date(c.birth_date.as_deref().unwrap_or_default()),
                "{c:?}"
            );
            assert!(
                normalize_cep(c.cep.as_deref().unwrap_or_default()).is_some(),
                "{c:?}"
            );
        }
        let b = sample_clients(300, &owner);
        let names = |v: &[Client]| {
            v.iter()
                .map(|c| (c.name.clone(), c.cpf.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&a), names(&b));
    }
}
