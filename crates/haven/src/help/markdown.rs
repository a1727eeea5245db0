//! Articles are written in Markdown (CommonMark with tables and strikethrough) and stored
//! rendered. Raw HTML in the source is shown as text, never passed through; what the
//! renderer makes is then cleaned by an allowlist sanitiser (ammonia), so a script tag,
//! an event-handler attribute or a `javascript:` link cannot survive either way.

use std::collections::HashSet;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd, html};

/// An article's body, ready to serve and to search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub html: String,
    /// The words without markup, for full-text search and snippets.
    pub text: String,
}

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH
}

pub fn render(markdown: &str) -> Rendered {
    // Raw HTML becomes literal text: an editor's `<b>` shows as `<b>`.
    let events = Parser::new_ext(markdown, options()).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        other => other,
    });
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, events);
    Rendered {
        html: sanitise(&unsafe_html),
        text: plain_text(markdown),
    }
}

/// Only what articles need: text structure, links, images, tables, code.
fn sanitise(rendered: &str) -> String {
    let schemes: HashSet<&str> = ["http", "https", "mailto"].into_iter().collect();
    ammonia::Builder::default()
        .url_schemes(schemes)
        .url_relative(ammonia::UrlRelative::PassThrough)
        .link_rel(Some("noopener noreferrer"))
        .clean(rendered)
        .to_string()
}

fn plain_text(markdown: &str) -> String {
    let mut text = String::with_capacity(markdown.len());
    for event in Parser::new_ext(markdown, options()) {
        match event {
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => text.push_str(&t),
            Event::SoftBreak
            | Event::HardBreak
            | Event::Rule
            | Event::Start(Tag::Item)
            | Event::End(TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item | TagEnd::TableCell) => text.push(' '),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::render;

    /// Payloads an article's author might paste, on purpose or not; none may leave
    /// anything that runs.
    const XSS: &[&str] = &[
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
        "<img src=x onerror=alert(1)>",
        "<svg/onload=alert(1)>",
        "<iframe src=\"javascript:alert(1)\"></iframe>",
        "<a href=\"javascript:alert(1)\">click</a>",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](  javascript:alert(1))",
        "[click](&#106;avascript:alert(1))",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "![x](javascript:alert(1))",
        "![x](x \"\\\" onerror=\\\"alert(1)\")",
        "<div style=\"background:url(javascript:alert(1))\">x</div>",
        "<body onload=alert(1)>",
        "<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>",
        "<form action=\"javascript:alert(1)\"><button>go</button></form>",
        "<object data=\"javascript:alert(1)\"></object>",
        "<embed src=\"javascript:alert(1)\">",
        "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
        "<style>*{background:url(javascript:alert(1))}</style>",
        "`<script>alert(1)</script>`",
        "```\n<script>alert(1)</script>\n```",
        "<details open ontoggle=alert(1)>",
        "<a href=\"&#x6A;avascript:alert(1)\">x</a>",
    ];

    /// The elements the sanitiser lets through (text is escaped, so only real tags count).
    const ALLOWED: &[&str] = &[
        "p",
        "a",
        "img",
        "strong",
        "em",
        "code",
        "pre",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "li",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "blockquote",
        "hr",
        "br",
        "del",
    ];

    /// Every real tag is an allowed element with no event handler, no style, and no link
    /// or source that is not http(s), mailto or relative.
    fn harmless(html: &str) -> Result<(), String> {
        let mut rest = html;
        while let Some(at) = rest.find('<') {
            rest = &rest[at + 1..];
            let tag_end = rest.find('>').unwrap_or(rest.len());
            let tag = rest[..tag_end].trim_start_matches('/').to_lowercase();
            let name: String = tag.chars().take_while(char::is_ascii_alphanumeric).collect();
            if !ALLOWED.contains(&name.as_str()) {
                return Err(format!("<{name}> survives in {html}"));
            }
            let attributes = &tag[name.len()..];
            // Attribute names only: quoted values are text (their quotes come escaped).
            let names: String = attributes.split('"').step_by(2).collect::<Vec<_>>().join(" ");
            for word in names.split_whitespace() {
                let key = word.split('=').next().unwrap_or_default();
                if key.starts_with("on") || key == "style" {
                    return Err(format!("attribute {key} survives in {html}"));
                }
            }
            for key in ["href=\"", "src=\""] {
                if let Some(start) = attributes.find(key) {
                    let value = &attributes[start + key.len()..];
                    let value = value[..value.find('"').unwrap_or(value.len())].trim();
                    let safe = value.starts_with('/')
                        || value.starts_with("https:")
                        || value.starts_with("http:")
                        || value.starts_with("mailto:")
                        || !value.contains(':');
                    if !safe {
                        return Err(format!("{key}{value} survives in {html}"));
                    }
                }
            }
            rest = &rest[tag_end..];
        }
        Ok(())
    }

    #[test]
    fn scripts_handlers_and_javascript_urls_are_rendered_harmless() {
        for payload in XSS {
            let html = render(payload).html;
            if let Err(problem) = harmless(&html) {
                panic!("payload {payload:?}: {problem}");
            }
            // The same payload inside ordinary prose, too.
            let html = render(&format!("Before\n\n{payload}\n\nafter *this*.")).html;
            if let Err(problem) = harmless(&html) {
                panic!("payload {payload:?} in prose: {problem}");
            }
        }
    }

    #[test]
    fn raw_html_is_shown_as_text_and_markdown_still_works() {
        let rendered = render("# Booking\n\nUse <b>Book</b> on the **calendar**; see [rooms](/help/articles/rooms).");
        assert!(rendered.html.contains("<h1>Booking</h1>"), "{}", rendered.html);
        assert!(rendered.html.contains("&lt;b&gt;Book&lt;/b&gt;"), "{}", rendered.html);
        assert!(rendered.html.contains("<strong>calendar</strong>"));
        assert!(
            rendered
                .html
                .contains("<a href=\"/help/articles/rooms\" rel=\"noopener noreferrer\">rooms</a>"),
            "{}",
            rendered.html
        );
        assert_eq!(rendered.text, "Booking Use <b>Book</b> on the calendar; see rooms.");
    }

    #[test]
    fn tables_images_and_code_survive_the_sanitiser() {
        let rendered = render(
            "| Key | Does |\n|---|---|\n| `n` | new |\n\n![The calendar](/api/help/v1/images/abc \"Calendar\")\n\n```\nlet x = 1;\n```",
        );
        assert!(rendered.html.contains("<table>"), "{}", rendered.html);
        assert!(rendered.html.contains("<code>n</code>"));
        assert!(
            rendered
                .html
                .contains("<img src=\"/api/help/v1/images/abc\" alt=\"The calendar\" title=\"Calendar\">"),
            "{}",
            rendered.html
        );
        assert!(rendered.html.contains("<pre><code>let x = 1;\n</code></pre>"));
    }
}
