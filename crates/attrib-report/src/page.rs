//! The sections of one conversion-type view of the page: headline tiles, model comparison,
//! top paths, platforms over time, campaigns, posts and publishers.

use super::*;

/// Everything the page shows for one model and one conversion-type view.
pub(crate) struct Page<'a> {
    pub(crate) facts: Vec<&'a KpiFact>,
    /// The view's conversion paths.
    pub(crate) paths: Vec<&'a PathKpi>,
    pub(crate) compare: Vec<&'a KpiFact>,
    pub(crate) view: View,
    pub(crate) model: &'a str,
    pub(crate) compare_model: Option<&'a str>,
    pub(crate) fmt: &'a Fmt,
    /// The last day with data, and whether its week is complete.
    pub(crate) last_day: Option<Date>,
}

impl Page<'_> {
    fn value_label(&self) -> String {
        match self.view {
            View::Leads => "leads".to_string(),
            _ => format!("revenue ({})", self.fmt.code()),
        }
    }

    fn value_text(&self, v: f64) -> String {
        match self.view {
            View::Leads => format!("{v:.1}"),
            _ => self.fmt.money(v.round() as i64),
        }
    }

    /// A value for a chart axis: major units of money, or a count.
    fn plotted(&self, v: f64) -> f64 {
        match self.view {
            View::Leads => v,
            _ => self.fmt.major(v),
        }
    }

    fn headline(&self, out: &mut String) {
        let fmt = self.fmt;
        let credits: Vec<&KpiFact> = self.facts.iter().copied().filter(|f| is_credit(f)).collect();
        let sum = |pred: &dyn Fn(&KpiFact) -> bool, get: fn(&KpiFact) -> i64| -> i64 {
            credits.iter().filter(|f| pred(f)).map(|f| get(f)).sum()
        };
        let revenue = |f: &KpiFact| f.attributed_revenue_minor;
        let all_revenue = sum(&|_| true, revenue);
        let unattributed = sum(&|f| f.channel == UNATTRIBUTED, revenue);
        let attributed = all_revenue - unattributed;
        let paid_revenue = sum(&|f| f.actor_type == "paid", revenue);
        let spend: i64 = self.facts.iter().map(|f| f.spend_minor).sum();
        let conversions: f64 = credits.iter().map(|f| f.attributed_conversions).sum();
        let leads: f64 = credits.iter().map(|f| f.leads).sum();
        let pipeline: i64 = credits.iter().map(|f| f.pipeline_minor).sum();
        let missing_fx: u64 = self.facts.iter().map(|f| f.missing_fx_rows).sum();
        let share =
            ratio(unattributed as f64, all_revenue as f64).map_or("–".to_string(), |r| format!("{:.1} %", r * 100.0));
        let paid_roas = ratio(paid_revenue as f64, spend as f64);
        let mer = ratio(all_revenue as f64, spend as f64);
        out.push_str("<div class=\"cards\">");
        let tiles = [
            tile(
                "Attributed revenue",
                &fmt.money(attributed),
                &format!("excludes {UNATTRIBUTED}: {} ({share} of revenue)", fmt.money(unattributed)),
                "attributed_revenue_minor",
                attributed,
            ),
            tile(
                "Unattributed share",
                &share,
                "revenue of conversions with no touch in their window",
                "unattributed_revenue_minor",
                unattributed,
            ),
            tile(
                "Paid social ROAS",
                &ratio_text(paid_roas),
                &format!("revenue credited to paid touches {} / ad spend", fmt.money(paid_revenue)),
                "paid_roas",
                ratio_text(paid_roas),
            ),
            tile(
                "Blended MER",
                &ratio_text(mer),
                "all revenue (attributed or not) / all spend",
                "mer",
                ratio_text(mer),
            ),
            tile("Ad spend", &fmt.money(spend), "", "spend_minor", spend),
            tile("Conversions", &count(conversions), "orders + closed-won deals", "conversions", conversions.round()),
            tile("Blended CPA", &fmt.money_f(ratio(spend as f64, conversions)), "ad spend / conversions", "cpa", ""),
            tile("Leads", &count(leads), "", "leads", leads.round()),
            tile("Cost per lead", &fmt.money_f(ratio(spend as f64, leads)), "ad spend / leads", "cost_per_lead", ""),
            tile(
                "Pipeline influenced",
                &fmt.money(pipeline),
                "open deals credited to touches before them",
                "pipeline_minor",
                pipeline,
            ),
            tile(
                "Rows missing an FX rate",
                &missing_fx.to_string(),
                "left out of the money figures",
                "missing_fx_rows",
                missing_fx,
            ),
        ];
        for t in tiles {
            out.push_str(&t);
        }
        out.push_str("</div>");
    }

    fn model_comparison(&self, out: &mut String) {
        let Some(other) = self.compare_model else { return };
        let view = self.view;
        let by_source = |facts: &[&KpiFact]| -> BTreeMap<String, f64> {
            let mut m = BTreeMap::new();
            for f in facts.iter().filter(|f| is_credit(f)) {
                *m.entry(source_of(f)).or_insert(0.0) += view.value(f);
            }
            m
        };
        let (a, b) = (by_source(&self.facts), by_source(&self.compare));
        let mut sources: Vec<String> = a.keys().chain(b.keys()).cloned().collect::<BTreeSet<_>>().into_iter().collect();
        let get = |m: &BTreeMap<String, f64>, k: &str| m.get(k).copied().unwrap_or(0.0);
        sources.sort_by(|x, y| {
            (x == UNATTRIBUTED).cmp(&(y == UNATTRIBUTED)).then(get(&a, y).total_cmp(&get(&a, x))).then(x.cmp(y))
        });
        let shown: Vec<String> = sources.iter().filter(|s| *s != UNATTRIBUTED).take(10).cloned().collect();
        let series = vec![
            (self.model.to_string(), shown.iter().map(|s| self.plotted(get(&a, s))).collect(), PALETTE[0]),
            (other.to_string(), shown.iter().map(|s| self.plotted(get(&b, s))).collect(), PALETTE[2]),
        ];
        let rows = sources.iter().map(|s| {
            vec![
                s.clone(),
                self.value_text(get(&a, s)),
                self.value_text(get(&b, s)),
                percent_change(get(&a, s), get(&b, s)),
            ]
        });
        let head = ["source", self.model, other, &format!("{other} vs {}", self.model)];
        section(
            out,
            &format!("Model comparison: {} vs {other}", self.model),
            &format!(
                "{} by source under each model; the change is {other} relative to {}",
                self.value_label(),
                self.model
            ),
            &(chart::grouped_bars(&shown, &series, &self.value_label()) + &table(&head, rows)),
        );
    }

    /// The paths most conversions took, as analysts know them from GA4 and HubSpot.
    fn top_paths(&self, out: &mut String) {
        let fmt = self.fmt;
        let mut paths: BTreeMap<&str, (u64, i64)> = BTreeMap::new();
        for p in &self.paths {
            let e = paths.entry(p.path.as_str()).or_default();
            e.0 += p.conversions;
            e.1 += p.revenue_reporting_minor;
        }
        let total: u64 = paths.values().map(|v| v.0).sum();
        let mut top: Vec<(&str, (u64, i64))> = paths.into_iter().collect();
        top.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(b.1 .1.cmp(&a.1 .1)).then(a.0.cmp(b.0)));
        top.truncate(10);
        let bars: Vec<(String, f64, String)> =
            top.iter().map(|(path, (n, _))| (path.to_string(), *n as f64, format!("{n} conversions"))).collect();
        let share = |n: u64| ratio(n as f64 * 100.0, total as f64).map_or("–".to_string(), |r| format!("{r:.1} %"));
        let rows = top.iter().map(|(path, (n, revenue))| {
            let mut row = vec![path.to_string(), n.to_string(), share(*n)];
            if self.view != View::Leads {
                row.push(fmt.amount(*revenue));
            }
            row
        });
        let revenue_head = format!("revenue ({})", fmt.code());
        let mut head = vec!["path", "conversions", "share"];
        if self.view != View::Leads {
            head.push(&revenue_head);
        }
        section(
            out,
            "Top conversion paths",
            &format!(
                "the channels of the touches in each conversion's window, oldest first; the 10 most frequent of {} distinct paths ({total} conversions with a touch)",
                self.paths.iter().map(|p| p.path.as_str()).collect::<BTreeSet<_>>().len()
            ),
            &(chart::bar_chart(&bars, "conversions", None) + &table(&head, rows)),
        );
    }

    fn platforms_over_time(&self, out: &mut String) {
        const PLATFORMS: [&str; 6] = ["facebook", "instagram", "linkedin", "x", "tiktok", "youtube"];
        let mut by_week: BTreeMap<(Date, &str), f64> = BTreeMap::new();
        let mut weeks = BTreeSet::new();
        for f in self.facts.iter().filter(|f| is_credit(f) && f.channel != UNATTRIBUTED) {
            let Some(day) = Date::parse(&f.day) else { continue };
            let week = week_of(day);
            weeks.insert(week);
            let group = PLATFORMS.iter().find(|p| **p == f.platform.as_str()).copied().unwrap_or(OTHER_CHANNELS);
            *by_week.entry((week, group)).or_default() += self.view.value(f);
        }
        let weeks: Vec<Date> = match (weeks.first(), weeks.last()) {
            // Every week between the first and the last, so an empty week draws as 0.
            (Some(a), Some(b)) => (0..=(b.days_since_epoch() - a.days_since_epoch()) / 7)
                .map(|i| Date::from_days_since_epoch(a.days_since_epoch() + 7 * i))
                .collect(),
            _ => Vec::new(),
        };
        let mut groups: Vec<&str> =
            PLATFORMS.iter().copied().filter(|p| weeks.iter().any(|w| by_week.contains_key(&(*w, *p)))).collect();
        if weeks.iter().any(|w| by_week.contains_key(&(*w, OTHER_CHANNELS))) {
            groups.push(OTHER_CHANNELS);
        }
        let series: Vec<(String, Vec<f64>, &str)> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let color = if *g == OTHER_CHANNELS { OTHER } else { PALETTE[i % PALETTE.len()] };
                (
                    g.to_string(),
                    weeks.iter().map(|w| self.plotted(by_week.get(&(*w, *g)).copied().unwrap_or(0.0))).collect(),
                    color,
                )
            })
            .collect();
        // The last week is partial unless the data runs through its Sunday.
        let partial = match (weeks.last(), self.last_day) {
            (Some(w), Some(last)) => last.days_since_epoch() < w.days_since_epoch() + 6,
            _ => false,
        };
        let labels: Vec<String> = weeks.iter().map(|w| w.to_string()).collect();
        let note = format!(
            "{} model, {} by week of conversion (weeks start on Monday); the six social platforms, every other channel as \"{OTHER_CHANNELS}\"{}",
            self.model,
            self.value_label(),
            if partial { "; the last week is not complete yet (dashed, shaded)" } else { "" }
        );
        section(
            out,
            "Attributed revenue by platform over time",
            &note,
            &chart::line_chart(&labels, &series, &self.value_label(), "week of conversion", partial),
        );
    }

    fn campaigns(&self, out: &mut String) {
        let fmt = self.fmt;
        let mut campaigns = sum_by(self.facts.iter().copied().filter(|f| !f.campaign_id.is_empty()), |f| {
            (f.platform.to_string(), f.campaign_id.to_string())
        });
        campaigns.sort_by(|(ka, a), (kb, b)| {
            b.spend_minor
                .cmp(&a.spend_minor)
                .then(b.attributed_revenue_minor.cmp(&a.attributed_revenue_minor))
                .then(ka.cmp(kb))
        });
        campaigns.truncate(15);
        let name = |(platform, campaign): &(String, String)| format!("{platform} · {campaign}");
        let mut roas = Vec::new();
        let mut cpa = Vec::new();
        for (k, c) in &campaigns {
            let (rev, sp, conv) = (c.attributed_revenue_minor as f64, c.spend_minor as f64, c.attributed_conversions);
            if let Some(r) = ratio(rev, sp) {
                roas.push((name(k), r, format!("ROAS {r:.2}")));
            }
            if let Some(v) = ratio(sp, conv) {
                cpa.push((name(k), fmt.major(v), format!("CPA {}", fmt.money(v.round() as i64))));
            }
        }
        let rows = campaigns.iter().map(|(k, c)| {
            let (rev, sp) = (c.attributed_revenue_minor as f64, c.spend_minor as f64);
            vec![
                k.0.clone(),
                k.1.clone(),
                fmt.amount(c.spend_minor),
                fmt.amount(c.attributed_revenue_minor),
                count(c.attributed_conversions),
                format!("{:.1}", c.leads),
                ratio_text(ratio(rev, sp)),
                fmt.money_f(ratio(sp, c.attributed_conversions)),
                fmt.money_f(ratio(sp, c.leads)),
                fmt.amount(c.pipeline_minor),
            ]
        });
        let code = fmt.code();
        let head = [
            "platform",
            "campaign",
            &format!("spend ({code})"),
            &format!("revenue ({code})"),
            "conversions",
            "leads",
            "ROAS",
            "CPA",
            "cost per lead",
            &format!("pipeline ({code})"),
        ];
        let content = format!(
            "<div class=\"pair\"><div>{}</div><div>{}</div></div>{}",
            chart::bar_chart(&roas, "ROAS (revenue / spend)", Some((1.0, "break-even: ROAS 1"))),
            chart::bar_chart(&cpa, &format!("CPA ({code} per conversion)"), None),
            table(&head, rows)
        );
        section(
            out,
            "ROAS and CPA by campaign",
            &format!(
                "{} model; ROAS = Σ revenue / Σ spend (left of the line the campaign returned less than it cost), CPA = Σ spend / Σ conversions; the 15 campaigns with the most spend",
                self.model
            ),
            &content,
        );
    }

    fn posts(&self, out: &mut String) {
        let fmt = self.fmt;
        let posts = sum_by(self.facts.iter().copied().filter(|f| !f.post_id.is_empty()), |f| {
            (f.post_id.to_string(), f.platform.to_string(), f.actor_type.to_string())
        });
        let value = |p: &KpiFact| self.view.value(p);
        let points: Vec<(f64, f64, String)> = posts
            .iter()
            .filter(|(_, p)| p.likes > 0 || value(p) != 0.0)
            .map(|((post, platform, _), p)| {
                (
                    p.likes as f64,
                    self.plotted(value(p)),
                    format!("{post} ({platform}): {} likes, {}", p.likes, self.value_text(value(p))),
                )
            })
            .collect();
        let mut top: Vec<_> = posts.iter().collect();
        top.sort_by(|(ka, a), (kb, b)| value(b).total_cmp(&value(a)).then(b.likes.cmp(&a.likes)).then(ka.cmp(kb)));
        top.truncate(15);
        let rows = top.iter().map(|((post, platform, actor), p)| {
            vec![
                post.clone(),
                platform.clone(),
                if actor.is_empty() { UNKNOWN_PUBLISHER.to_string() } else { actor.clone() },
                self.value_text(value(p)),
                p.likes.to_string(),
                p.shares.to_string(),
                p.comments.to_string(),
                (p.clicks + p.link_clicks).to_string(),
                p.impressions.to_string(),
            ]
        });
        let head = [
            "post",
            "platform",
            "published by",
            &self.value_label(),
            "likes",
            "shares",
            "comments",
            "clicks",
            "impressions",
        ];
        section(
            out,
            "Top posts: attributed revenue against likes",
            &format!(
                "{} model; each dot is a post (x: likes, y: {}), every currency converted to {}; the table lists the 15 posts with the most",
                self.model,
                self.value_label(),
                fmt.code()
            ),
            &(chart::scatter(&points, "likes", &self.value_label()) + &table(&head, rows)),
        );
    }

    fn publishers(&self, out: &mut String) {
        let fmt = self.fmt;
        let groups = sum_by(self.facts.iter().copied().filter(|f| is_social(f)), publisher_of);
        let mut groups: Vec<(String, KpiFact)> = groups;
        // Known publishers in order, the unknown group last.
        groups.sort_by_key(|(g, _)| (g == UNKNOWN_PUBLISHER, g.clone()));
        let labels: Vec<String> = groups.iter().map(|(g, _)| g.clone()).collect();
        let view = self.view;
        let credited = |f: &KpiFact| match view {
            View::Leads => f.leads,
            _ => f.attributed_revenue_minor as f64,
        };
        let mut series = vec![(
            self.value_label(),
            groups.iter().map(|(_, f)| self.plotted(credited(f))).collect::<Vec<_>>(),
            PALETTE[0],
        )];
        if view != View::Leads {
            series.push((
                format!("pipeline ({})", fmt.code()),
                groups.iter().map(|(_, f)| fmt.major(f.pipeline_minor as f64)).collect(),
                PALETTE[3],
            ));
            series.push((
                format!("ad spend ({})", fmt.code()),
                groups.iter().map(|(_, f)| fmt.major(f.spend_minor as f64)).collect(),
                PALETTE[1],
            ));
        }
        let rows = groups.iter().map(|(g, f)| {
            vec![
                g.clone(),
                self.value_text(credited(f)),
                count(f.attributed_conversions),
                fmt.amount(f.pipeline_minor),
                fmt.amount(f.spend_minor),
                (f.likes + f.comments + f.shares).to_string(),
            ]
        });
        let code = fmt.code();
        let head = [
            "published by",
            &self.value_label(),
            "conversions",
            &format!("pipeline ({code})"),
            &format!("spend ({code})"),
            "likes + comments + shares",
        ];
        section(
            out,
            "Employee advocacy vs brand vs paid vs influencer",
            &format!(
                "{} model; social touches by who published them; \"{UNKNOWN_PUBLISHER}\" holds sessions classed as social by their UTM or referrer, so the groups add up to all social revenue",
                self.model
            ),
            &(chart::grouped_bars(&labels, &series, &self.value_label()) + &table(&head, rows)),
        );
    }

    pub(crate) fn render(&self, out: &mut String) {
        self.headline(out);
        self.model_comparison(out);
        self.top_paths(out);
        self.platforms_over_time(out);
        self.campaigns(out);
        self.posts(out);
        self.publishers(out);
    }
}
