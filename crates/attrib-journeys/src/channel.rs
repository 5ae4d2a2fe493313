//! Channel of a touch (DESIGN.md §3): social platforms, paid_search, organic_search,
//! email, referral, direct.

use attrib_contract::{Platform, Utm};
use std::fmt;

/// Where a touch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    Social(Platform),
    PaidSearch,
    OrganicSearch,
    Email,
    Referral,
    Direct,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Social(p) => p.as_str(),
            Channel::PaidSearch => "paid_search",
            Channel::OrganicSearch => "organic_search",
            Channel::Email => "email",
            Channel::Referral => "referral",
            Channel::Direct => "direct",
        }
    }

    /// The channel of a name `as_str` gives.
    pub fn parse(s: &str) -> Option<Channel> {
        const OTHERS: [Channel; 5] =
            [Channel::PaidSearch, Channel::OrganicSearch, Channel::Email, Channel::Referral, Channel::Direct];
        Platform::parse(s).map(Channel::Social).or_else(|| OTHERS.into_iter().find(|c| c.as_str() == s))
    }

    /// The platform of a social channel.
    pub fn platform(self) -> Option<Platform> {
        match self {
            Channel::Social(p) => Some(p),
            _ => None,
        }
    }
}

attrib_contract::serde_by_name!(Channel, "channel");

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Channel of a web session from its UTM parameters, else its referrer.
pub fn classify_session(utm: Option<&Utm>, referrer: Option<&str>) -> Channel {
    let clean = |v: Option<&String>| v.map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty());
    let source = utm.and_then(|u| clean(u.source.as_ref()));
    let medium = utm.and_then(|u| clean(u.medium.as_ref()));
    if source.is_some() || medium.is_some() {
        if let Some(p) = source.as_deref().and_then(platform_of_source) {
            return Channel::Social(p);
        }
        return match medium.as_deref() {
            Some("cpc" | "ppc" | "paid_search") => Channel::PaidSearch,
            Some("email") => Channel::Email,
            _ => Channel::Referral,
        };
    }
    match referrer.and_then(referrer_host) {
        Some(host) => classify_host(&host),
        None => Channel::Direct,
    }
}

fn platform_of_source(source: &str) -> Option<Platform> {
    Some(match source {
        "facebook" | "fb" | "meta" => Platform::Facebook,
        "instagram" | "ig" => Platform::Instagram,
        "linkedin" | "lnkd" => Platform::Linkedin,
        "twitter" | "x" | "t.co" => Platform::X,
        "tiktok" => Platform::Tiktok,
        "youtube" => Platform::Youtube,
        "pinterest" => Platform::Pinterest,
        "snapchat" => Platform::Snapchat,
        _ => return None,
    })
}

/// The lower-cased host of a referrer URL (scheme optional); None when there is none.
pub fn referrer_host(referrer: &str) -> Option<String> {
    let r = referrer.trim();
    let after_scheme = match r.find("://") {
        Some(i) => &r[i + 3..],
        None => r.strip_prefix("//").unwrap_or(r),
    };
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if host_port.starts_with('[') {
        host_port.split(']').next().map(|h| h.trim_start_matches('[')).unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

fn is_domain_or_subdomain(host: &str, domain: &str) -> bool {
    host == domain || host.strip_suffix(domain).is_some_and(|rest| rest.ends_with('.'))
}

/// Channel of a referrer host.
pub fn classify_host(host: &str) -> Channel {
    let social: [(&[&str], Platform); 8] = [
        (&["facebook.com"], Platform::Facebook),
        (&["instagram.com"], Platform::Instagram),
        (&["linkedin.com", "lnkd.in"], Platform::Linkedin),
        (&["t.co", "x.com", "twitter.com"], Platform::X),
        (&["tiktok.com"], Platform::Tiktok),
        (&["youtube.com"], Platform::Youtube),
        (&["pinterest.com"], Platform::Pinterest),
        (&["snapchat.com"], Platform::Snapchat),
    ];
    for (domains, platform) in social {
        if domains.iter().any(|d| is_domain_or_subdomain(host, d)) {
            return Channel::Social(platform);
        }
    }
    if host.split('.').any(|label| matches!(label, "google" | "yahoo" | "yandex"))
        || ["bing.com", "duckduckgo.com", "baidu.com", "ecosia.org"].iter().any(|d| is_domain_or_subdomain(host, d))
    {
        return Channel::OrganicSearch;
    }
    Channel::Referral
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utm(source: Option<&str>, medium: Option<&str>) -> Utm {
        Utm { source: source.map(Into::into), medium: medium.map(Into::into), ..Utm::default() }
    }

    #[test]
    fn utm_source_aliases_win_first() {
        for (s, p) in [
            (" FB ", Platform::Facebook),
            ("meta", Platform::Facebook),
            ("IG", Platform::Instagram),
            ("lnkd", Platform::Linkedin),
            ("t.co", Platform::X),
            ("twitter", Platform::X),
            ("snapchat", Platform::Snapchat),
        ] {
            assert_eq!(classify_session(Some(&utm(Some(s), Some("cpc"))), None), Channel::Social(p), "{s}");
        }
    }

    #[test]
    fn utm_medium_then_any_other_utm() {
        let c = |s, m| classify_session(Some(&utm(s, m)), Some("https://www.google.com/"));
        assert_eq!(c(Some("google"), Some("CPC")), Channel::PaidSearch);
        assert_eq!(c(Some("bing"), Some("ppc")), Channel::PaidSearch);
        assert_eq!(c(None, Some("paid_search")), Channel::PaidSearch);
        assert_eq!(c(Some("newsletter"), Some(" Email ")), Channel::Email);
        assert_eq!(c(Some("partner"), None), Channel::Referral);
        assert_eq!(c(None, Some("display")), Channel::Referral);
    }

    #[test]
    fn without_source_and_medium_the_referrer_decides() {
        let campaign_only = Utm { campaign: Some("spring".into()), ..Utm::default() };
        assert_eq!(classify_session(Some(&campaign_only), None), Channel::Direct);
        assert_eq!(
            classify_session(Some(&utm(Some("  "), None)), Some("https://duckduckgo.com/")),
            Channel::OrganicSearch
        );
        for (r, c) in [
            ("https://m.facebook.com/story", Channel::Social(Platform::Facebook)),
            ("https://l.instagram.com/?u=x", Channel::Social(Platform::Instagram)),
            ("https://lnkd.in/abc", Channel::Social(Platform::Linkedin)),
            ("https://t.co/xyz", Channel::Social(Platform::X)),
            ("https://X.com/foo", Channel::Social(Platform::X)),
            ("https://www.youtube.com/watch?v=1", Channel::Social(Platform::Youtube)),
            ("https://www.google.de/", Channel::OrganicSearch),
            ("https://news.google.com/", Channel::OrganicSearch),
            ("https://search.yahoo.co.jp/", Channel::OrganicSearch),
            ("https://yandex.ru/", Channel::OrganicSearch),
            ("https://www.bing.com/search", Channel::OrganicSearch),
            ("https://www.ecosia.org/", Channel::OrganicSearch),
            ("https://notfacebook.com/", Channel::Referral),
            ("https://facebook.com.evil.io/", Channel::Referral),
            ("https://googleblog.com/", Channel::Referral),
            ("https://user@partner.io:8443/x", Channel::Referral),
            ("", Channel::Direct),
        ] {
            assert_eq!(classify_session(None, Some(r)), c, "{r}");
        }
        assert_eq!(classify_session(None, None), Channel::Direct);
    }

    #[test]
    fn hosts_are_extracted_robustly() {
        assert_eq!(referrer_host("https://User@WWW.Facebook.COM.:443/x").as_deref(), Some("www.facebook.com"));
        assert_eq!(referrer_host("facebook.com/page").as_deref(), Some("facebook.com"));
        assert_eq!(referrer_host("https:///nohost"), None);
    }
}
