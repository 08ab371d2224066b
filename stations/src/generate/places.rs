//! The places, names and operators generated stations are made of: Korean cities with their
//! districts, the kinds of sites chargers stand at, and the operators of the public data.

/// A city stations cluster around.
pub struct City {
    /// The province or metropolitan city, as addresses begin (서울특별시, 경기도).
    pub province: &'static str,
    /// The city within a province (수원시), empty for a metropolitan city.
    pub city: &'static str,
    /// The source's region code (`zcode`).
    pub zcode: &'static str,
    pub lat: f64,
    pub lon: f64,
    /// Standard deviation of the stations' distance from the centre, km.
    pub spread_km: f64,
    /// Share of the country's stations.
    pub weight: f64,
    pub districts: &'static [&'static str],
}

macro_rules! city {
    ($p:expr, $c:expr, $z:expr, $lat:expr, $lon:expr, $s:expr, $w:expr, [$($d:expr),*]) => {
        City { province: $p, city: $c, zcode: $z, lat: $lat, lon: $lon, spread_km: $s, weight: $w, districts: &[$($d),*] }
    };
}

#[rustfmt::skip]
pub const CITIES: &[City] = &[
    city!("서울특별시", "", "11", 37.5665, 126.9780, 7.0, 17.0, ["강남구", "서초구", "송파구", "마포구", "영등포구", "종로구", "중구", "성동구", "용산구", "노원구", "강서구", "관악구"]),
    city!("부산광역시", "", "26", 35.1796, 129.0756, 6.0, 6.5, ["해운대구", "부산진구", "동래구", "남구", "사하구", "금정구"]),
    city!("대구광역시", "", "27", 35.8714, 128.6014, 5.5, 4.5, ["수성구", "달서구", "북구", "중구", "동구"]),
    city!("인천광역시", "", "28", 37.4563, 126.7052, 6.0, 5.5, ["연수구", "남동구", "부평구", "서구", "미추홀구"]),
    city!("광주광역시", "", "29", 35.1595, 126.8526, 4.5, 3.0, ["서구", "북구", "광산구", "남구"]),
    city!("대전광역시", "", "30", 36.3504, 127.3845, 4.5, 3.0, ["유성구", "서구", "중구", "대덕구"]),
    city!("울산광역시", "", "31", 35.5384, 129.3114, 5.0, 2.5, ["남구", "중구", "울주군", "북구"]),
    city!("세종특별자치시", "", "36", 36.4800, 127.2890, 3.5, 1.5, ["한솔동", "보람동", "조치원읍", "도담동"]),
    city!("경기도", "수원시", "41", 37.2636, 127.0286, 4.0, 4.0, ["팔달구", "영통구", "권선구", "장안구"]),
    city!("경기도", "성남시", "41", 37.4201, 127.1262, 4.0, 3.5, ["분당구", "수정구", "중원구"]),
    city!("경기도", "고양시", "41", 37.6584, 126.8320, 4.5, 3.5, ["일산동구", "일산서구", "덕양구"]),
    city!("경기도", "용인시", "41", 37.2411, 127.1776, 5.5, 3.5, ["수지구", "기흥구", "처인구"]),
    city!("경기도", "화성시", "41", 37.1995, 126.8311, 7.0, 3.0, ["동탄1동", "봉담읍", "향남읍", "남양읍"]),
    city!("경기도", "부천시", "41", 37.5034, 126.7660, 3.0, 2.5, ["원미구", "소사구", "오정구"]),
    city!("강원특별자치도", "춘천시", "51", 37.8813, 127.7298, 4.0, 1.2, ["효자동", "석사동", "퇴계동"]),
    city!("강원특별자치도", "원주시", "51", 37.3422, 127.9202, 4.0, 1.3, ["단계동", "무실동", "반곡동"]),
    city!("강원특별자치도", "강릉시", "51", 37.7519, 128.8761, 4.0, 1.0, ["교동", "포남동", "주문진읍"]),
    city!("충청북도", "청주시", "43", 36.6424, 127.4890, 5.0, 2.5, ["상당구", "서원구", "흥덕구", "청원구"]),
    city!("충청남도", "천안시", "44", 36.8151, 127.1139, 5.0, 2.3, ["동남구", "서북구"]),
    city!("충청남도", "아산시", "44", 36.7898, 127.0018, 5.0, 1.2, ["배방읍", "탕정면", "온양동"]),
    city!("전북특별자치도", "전주시", "52", 35.8242, 127.1480, 4.0, 2.2, ["완산구", "덕진구"]),
    city!("전라남도", "순천시", "46", 34.9507, 127.4872, 4.0, 1.1, ["조례동", "연향동", "왕지동"]),
    city!("전라남도", "여수시", "46", 34.7604, 127.6622, 4.0, 1.0, ["학동", "여서동", "돌산읍"]),
    city!("전라남도", "목포시", "46", 34.8118, 126.3922, 3.0, 0.9, ["상동", "옥암동", "용당동"]),
    city!("경상북도", "포항시", "47", 36.0190, 129.3435, 5.0, 1.6, ["남구", "북구"]),
    city!("경상북도", "구미시", "47", 36.1195, 128.3446, 4.0, 1.3, ["송정동", "인동동", "형곡동"]),
    city!("경상북도", "경주시", "47", 35.8562, 129.2247, 5.0, 1.0, ["황성동", "동천동", "안강읍"]),
    city!("경상남도", "창원시", "48", 35.2280, 128.6811, 5.0, 2.6, ["성산구", "의창구", "마산합포구", "진해구"]),
    city!("경상남도", "김해시", "48", 35.2285, 128.8894, 4.0, 1.5, ["내외동", "장유동", "북부동"]),
    city!("경상남도", "진주시", "48", 35.1800, 128.1076, 4.0, 1.1, ["충무공동", "상대동", "가호동"]),
    city!("제주특별자치도", "제주시", "50", 33.4996, 126.5312, 5.0, 2.0, ["연동", "노형동", "이도동", "아라동"]),
    city!("제주특별자치도", "서귀포시", "50", 33.2541, 126.5600, 5.0, 1.0, ["동홍동", "서홍동", "대정읍"]),
];

/// Operators of the public data: `busiId` (also the prefix of their statIds), `busiNm`, share.
pub const OPERATORS: &[(&str, &str, f64)] = &[
    ("ME", "환경부", 20.0),
    ("KP", "한국전력", 14.0),
    ("PI", "GS차지비", 12.0),
    ("ST", "SK일렉링크", 9.0),
    ("EV", "에버온", 8.0),
    ("CV", "대영채비", 7.0),
    ("HE", "한국전기차충전서비스", 6.0),
    ("SF", "스타코프", 6.0),
    ("LU", "LG유플러스 볼트업", 5.0),
    ("PW", "파워큐브", 4.0),
    ("EZ", "차지인", 4.0),
    ("KL", "클린일렉스", 3.0),
];

/// First and second syllables of neighbourhood names (신월, 한솔, ...).
pub const STEM_A: &[&str] = &[
    "신", "한", "새", "대", "중", "동", "서", "남", "북", "상", "하", "명", "은", "금", "옥", "송",
    "매", "도", "화", "청", "월", "용", "봉", "학", "문",
];
pub const STEM_B: &[&str] = &[
    "월", "솔", "빛", "림", "곡", "산", "천", "정", "평", "암", "촌", "현", "포", "계", "덕", "안",
    "성", "원", "봉", "수", "내", "전", "당", "마", "호",
];

/// Roads of addresses.
pub const ROADS: &[&str] = &[
    "중앙로",
    "시청로",
    "역전로",
    "문화로",
    "공원로",
    "대학로",
    "산업로",
    "번영로",
    "평화로",
    "신촌로",
    "학교길",
    "시장길",
    "희망로",
    "강변로",
    "충렬로",
];

/// What a site is: how its name is made, whether it is a fast (DC) site, and its share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// 행정복지센터, 공영주차장, 도서관, ...: `{stem}동 {kind}`.
    Public(&'static str),
    /// A mart: `{brand} {stem}점`.
    Mart(&'static str),
    /// An apartment complex: `{stem} {brand}아파트`.
    Apartment(&'static str),
    /// A filling station: `{brand} {stem}주유소`.
    Fuel(&'static str),
}

pub const PUBLIC: &[&str] = &[
    "행정복지센터",
    "공영주차장",
    "도서관",
    "체육센터",
    "보건소",
    "공원 주차장",
];
pub const MARTS: &[&str] = &["이마트", "홈플러스", "롯데마트", "하나로마트", "노브랜드"];
pub const APARTMENTS: &[&str] = &[
    "래미안",
    "자이",
    "힐스테이트",
    "푸르지오",
    "아이파크",
    "롯데캐슬",
    "더샵",
];
pub const FUEL: &[&str] = &["GS칼텍스", "SK에너지", "S-OIL", "현대오일뱅크"];

impl Site {
    /// The station's name in a neighbourhood.
    pub fn name(self, stem: &str) -> String {
        match self {
            Site::Public(kind) => format!("{stem}동 {kind}"),
            Site::Mart(brand) => format!("{brand} {stem}점"),
            Site::Apartment(brand) => format!("{stem} {brand}아파트"),
            Site::Fuel(brand) => format!("{brand} {stem}주유소"),
        }
    }

    /// Share of DC fast chargers at such a site.
    pub fn fast_share(self) -> f64 {
        match self {
            Site::Public(_) => 0.45,
            Site::Mart(_) => 0.6,
            Site::Apartment(_) => 0.1,
            Site::Fuel(_) => 0.95,
        }
    }
}
