//! Company branding against the sandbox over HTTP (graph-api.md a.3 rows 31-39, A.7).

mod common;

use bytes::Bytes;
use common::*;
use entra_graph::{
    BrandingLookup, BrandingProperties, BrandingStream, DEFAULT_LOCALE, GraphError,
    LoginPageLayoutConfiguration,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The 8-byte PNG signature and an IHDR chunk start: enough to tell bytes apart.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10";

#[tokio::test]
async fn organization_id_is_the_tenant_id() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let organization = graph.organization().current().await.unwrap();
    assert_eq!(organization.id, sandbox.tenant_id());
    assert!(organization.extra.contains_key("verifiedDomains"));
    let by_id = graph.organization().get(&organization.id).await.unwrap();
    assert_eq!(by_id.id, organization.id);
    assert_eq!(
        by_id.extra["verifiedDomains"],
        organization.extra["verifiedDomains"]
    );
    let missing = graph
        .organization()
        .get("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert!(missing.is_not_found());
}

#[tokio::test]
async fn branding_is_not_configured_until_a_localization_creates_it() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let branding = graph.branding(sandbox.tenant_id());

    assert_eq!(branding.get().await.unwrap(), BrandingLookup::NotConfigured);
    // The default branding cannot be patched into existence (A.7 bootstrap).
    let patch = BrandingProperties {
        sign_in_page_text: Some("Default".into()),
        ..BrandingProperties::new()
    };
    assert!(branding.update(&patch).await.unwrap_err().is_not_found());
    assert!(branding.localizations().await.unwrap().is_empty());

    // The documented localization body creates the localization and the default branding.
    let localization: BrandingProperties = serde_json::from_value(
        json!({"backgroundColor": "#00000F", "id": "fr-FR", "signInPageText": " "}),
    )
    .unwrap();
    let created = branding.create_localization(&localization).await.unwrap();
    assert_eq!(created.id.as_deref(), Some("fr-FR"));
    assert_eq!(created.background_color.as_deref(), Some("#00000F"));
    assert!(created.extra.contains_key("cdnList"), "read-only CDN list");
    assert!(sandbox.has_branding());

    let BrandingLookup::Configured(default) = branding.get().await.unwrap() else {
        panic!("creating a localization creates the default branding");
    };
    assert_eq!(default.id.as_deref(), Some("0"));

    branding.update(&patch).await.unwrap();
    let default = branding.get().await.unwrap().into_option().unwrap();
    assert_eq!(default.sign_in_page_text.as_deref(), Some("Default"));

    // A second localization for the same locale is a conflict, the default cannot be one.
    let again = branding
        .create_localization(&localization)
        .await
        .unwrap_err();
    assert_eq!(again.status(), Some(StatusCode::CONFLICT));
    let default_as_localization = branding
        .create_localization(&BrandingProperties::localization("0"))
        .await
        .unwrap_err();
    assert!(matches!(
        default_as_localization,
        GraphError::InvalidRequest(_)
    ));
}

#[tokio::test]
async fn localizations_round_trip_with_unknown_properties() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let branding = graph.branding(sandbox.tenant_id());

    let mut german = BrandingProperties::localization("de-DE");
    german.sign_in_page_text = Some("Willkommen".into());
    german.login_page_layout_configuration = Some(LoginPageLayoutConfiguration {
        layout_template_type: Some("verticalSplit".into()),
        is_header_shown: Some(true),
        ..LoginPageLayoutConfiguration::default()
    });
    german.extra.insert(
        "contentCustomization".into(),
        json!({"attributeCollection": [{"key": "Attribute_Email", "value": "E-Mail"}]}),
    );
    let created = branding.create_localization(&german).await.unwrap();
    let read = branding.localization("de-de").await.unwrap();
    assert_eq!(read, created);
    assert_eq!(
        read.extra["contentCustomization"], german.extra["contentCustomization"],
        "unknown properties round-trip"
    );
    assert_eq!(read.writable(), german.writable());

    // A read copy can be sent back: writable() drops the read-only properties Graph refuses.
    let mut changed = read.clone();
    changed.username_hint_text = Some("E-Mail".into());
    branding
        .update_localization("de-DE", &changed)
        .await
        .unwrap();
    let reread = branding.find_localization("de-DE").await.unwrap().unwrap();
    assert_eq!(reread.username_hint_text.as_deref(), Some("E-Mail"));
    assert_eq!(reread.sign_in_page_text.as_deref(), Some("Willkommen"));

    let locales: Vec<_> = branding
        .localizations()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|l| l.id)
        .collect();
    assert_eq!(locales, ["0", "de-DE"]);

    branding.delete_localization("de-DE").await.unwrap();
    assert_eq!(branding.find_localization("de-DE").await.unwrap(), None);
    assert!(
        branding
            .delete_localization("de-DE")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn images_and_css_upload_with_their_content_type() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let branding = graph.branding(sandbox.tenant_id());

    // No branding yet: a stream upload has nothing to attach to.
    let early = branding
        .put_stream(DEFAULT_LOCALE, BrandingStream::BannerLogo, "image/png", PNG)
        .await
        .unwrap_err();
    assert!(early.is_not_found());

    branding
        .create_localization(&BrandingProperties::localization("en-US"))
        .await
        .unwrap();
    branding
        .put_stream(DEFAULT_LOCALE, BrandingStream::BannerLogo, "image/png", PNG)
        .await
        .unwrap();
    let css = "body { background: #00000F; }";
    branding.put_custom_css(DEFAULT_LOCALE, css).await.unwrap();
    branding
        .put_stream(
            "en-US",
            BrandingStream::SquareLogoDark,
            "image/jpeg",
            &b"\xff\xd8\xff"[..],
        )
        .await
        .unwrap();

    let stored = sandbox.branding_stream("0", "bannerLogo").unwrap();
    assert_eq!(stored.content_type, "image/png");
    assert_eq!(stored.bytes, Bytes::from_static(PNG));
    assert_eq!(
        sandbox
            .branding_stream("0", "customCSS")
            .unwrap()
            .content_type,
        "text/css"
    );

    let logo = branding
        .get_stream(DEFAULT_LOCALE, BrandingStream::BannerLogo)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(logo.content_type, "image/png");
    assert_eq!(logo.bytes, Bytes::from_static(PNG));
    let sheet = branding
        .get_stream(DEFAULT_LOCALE, BrandingStream::CustomCss)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sheet.content_type, "text/css");
    assert_eq!(sheet.bytes, css.as_bytes());
    assert_eq!(
        branding
            .get_stream("en-US", BrandingStream::SquareLogoDark)
            .await
            .unwrap()
            .unwrap()
            .content_type,
        "image/jpeg"
    );
    assert_eq!(
        branding
            .get_stream(DEFAULT_LOCALE, BrandingStream::Favicon)
            .await
            .unwrap(),
        None
    );

    // The default branding now reports the uploaded stream's read-only URL.
    let default = branding.get().await.unwrap().into_option().unwrap();
    assert!(default.extra["bannerLogoRelativeUrl"].is_string());
    assert!(default.extra["faviconRelativeUrl"].is_null());

    // Checked before sending: wrong type, too large.
    for (stream, content_type, size) in [
        (BrandingStream::CustomCss, "image/png", 10),
        (BrandingStream::BannerLogo, "text/css", 10),
        (BrandingStream::CustomCss, "text/css", 25 * 1024 + 1),
        (BrandingStream::SquareLogo, "image/png", 10 * 1024 + 1),
    ] {
        let error = branding
            .put_stream(DEFAULT_LOCALE, stream, content_type, vec![b'a'; size])
            .await
            .unwrap_err();
        assert!(
            matches!(error, GraphError::InvalidRequest(_)),
            "{stream} {content_type}"
        );
    }
}

#[tokio::test]
async fn the_sandbox_refuses_what_graph_refuses() {
    let sandbox = sandbox().await;
    let graph = client(&sandbox);
    let token = sandbox.issue_access_token();
    let http = reqwest::Client::new();
    let base = format!(
        "{}organization/{}/branding",
        sandbox.graph_url(),
        sandbox.tenant_id()
    );
    let get = http.get(&base).bearer_auth(&token).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::NOT_FOUND);
    let body: Value = get.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Request_ResourceNotFound");

    let post = |body: Value| {
        http.post(format!("{base}/localizations"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    assert_eq!(
        post(json!({"id": "it-IT"})).await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_eq!(
        post(json!({"id": "IT-it"})).await.unwrap().status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        post(json!({"id": "default"})).await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    // Read-only properties cannot be written back.
    let patch = http
        .patch(format!("{base}/localizations/it-IT"))
        .bearer_auth(&token)
        .json(&json!({"cdnList": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::BAD_REQUEST);
    let put = |content_type: &'static str| {
        http.put(format!("{base}/localizations/0/customCSS"))
            .bearer_auth(&token)
            .header("Content-Type", content_type)
            .body("a{}")
            .send()
    };
    assert_eq!(
        put("image/png").await.unwrap().status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        put("text/css").await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    let wrong_org = http
        .get(format!(
            "{}organization/00000000-0000-0000-0000-000000000000/branding",
            sandbox.graph_url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_org.status(), StatusCode::NOT_FOUND);
    let anonymous = http.get(&base).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // The typed client sees the same state.
    let locales = graph
        .branding(sandbox.tenant_id())
        .localizations()
        .await
        .unwrap();
    assert_eq!(locales.len(), 2);
}
