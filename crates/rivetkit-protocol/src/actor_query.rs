//! The two forms of gateway path, and the actor *query* form that 2.3.x clients send:
//!
//! - `/gateway/{actor_id}[@{token}]/{rest}` names one actor by id (every client version);
//! - `/gateway/{name}/{rest}?rvt-namespace=…&rvt-method=get|getOrCreate&rvt-key=a,b&…` names an
//!   actor by name and key, to be found (or created) by the gateway in the same request.
//!
//! The query form follows the Rivet Engine's gateway, so a client meets the same rules whichever
//! of the two serves it: a path whose query has any `rvt-` parameter is a query path, its `rvt-`
//! values are form-decoded (`+` is a space), every other query parameter goes to the actor byte
//! for byte, `rvt-key` is split on `,` (so keys `["a,b"]` and `["a", "b"]` are one actor, and
//! `[]` and `[""]` are too), and anything malformed is an error with the engine's
//! `guard.query_*` code instead of a silent fallback. Clients of the 3.x line escape their key
//! parts instead ([`KeySyntax::Escaped`]); the caller says which syntax a request uses. One leniency over the engine: `rvt-token`
//! and `rvt-skip-ready-wait` alone (no `rvt-method`) keep a path in the id form, since they say
//! nothing about which actor is meant.

use base64::Engine as _;

use crate::cbor;
use crate::path::{decode_form_component, decode_uri_component, parse_gateway_path, GatewayPath};

/// The prefix of the query parameters that belong to the gateway, never to the actor.
const RVT_PREFIX: &str = "rvt-";

/// The most bytes of CBOR input a query may carry (the 2.3 client's own default limit; larger
/// inputs belong in a `POST /actors` body).
pub const MAX_QUERY_INPUT: usize = 4 * 1024;

/// How `rvt-key` joins the parts of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySyntax {
    /// Parts joined by `,` as they are (2.3.x clients), so a `,` inside a part splits it: the
    /// Rivet Engine 2.3 reads keys this way.
    Plain,
    /// Parts joined by `,`, with `\` before a `\` or `,` inside a part and `\0` for an empty
    /// part (the official Rust client 3.x); another `\` stands for itself.
    Escaped,
}

impl KeySyntax {
    fn split(self, key: &str) -> Vec<String> {
        if key.is_empty() {
            return Vec::new();
        }
        match self {
            KeySyntax::Plain => key.split(',').map(str::to_owned).collect(),
            KeySyntax::Escaped => split_escaped(key),
        }
    }
}

fn split_escaped(key: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    // A part written as exactly `\0` is the empty part; `\0` inside a longer part is literal.
    let mut empty_marker = false;
    let mut chars = key.chars();
    let mut at_part_start = true;
    while let Some(c) = chars.next() {
        match c {
            ',' => {
                parts.push(if empty_marker {
                    String::new()
                } else {
                    std::mem::take(&mut part)
                });
                part.clear();
                empty_marker = false;
                at_part_start = true;
                continue;
            }
            '\\' => match chars.clone().next() {
                Some(next @ ('\\' | ',')) => {
                    chars.next();
                    part.push(next);
                    empty_marker = false;
                }
                Some('0') if at_part_start && matches!(chars.clone().nth(1), None | Some(',')) => {
                    chars.next();
                    empty_marker = true;
                }
                _ => part.push('\\'),
            },
            other => {
                part.push(other);
                empty_marker = false;
            }
        }
        at_part_start = false;
    }
    parts.push(if empty_marker { String::new() } else { part });
    parts
}

/// A gateway request, parsed: which actor, the token it presents, and the actor-side path.
#[derive(Clone, Debug, PartialEq)]
pub struct GatewayRequest {
    /// Which actor the request is for.
    pub target: ActorTarget,
    /// From `@{token}` (id form) or `rvt-token` (either form).
    pub token: Option<String>,
    /// The actor path: starts with `/`; the query string without `rvt-` parameters (with its
    /// `?`, absent when nothing is left).
    pub rest: String,
}

/// Which actor a gateway request is for.
#[derive(Clone, Debug, PartialEq)]
pub enum ActorTarget {
    /// By id: `/gateway/{actor_id}/…` (every client version).
    Id(String),
    /// By name and key: `/gateway/{name}/…?rvt-…` (2.3 clients).
    Query(ActorQuery),
}

/// An actor named by namespace, name and key.
#[derive(Clone, Debug, PartialEq)]
pub struct ActorQuery {
    /// `rvt-namespace`, never empty.
    pub namespace: String,
    /// The actor name: the percent-decoded path segment after `gateway`.
    pub name: String,
    /// `rvt-key`, split into its parts (empty when absent).
    pub key: Vec<String>,
    /// `Some` for `rvt-method=getOrCreate`: how to create the actor when the key is free.
    pub create: Option<CreateRequest>,
}

/// What `getOrCreate` says about the actor it may create.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateRequest {
    /// `rvt-pool` or `rvt-runner`: the runner pool the engine would place the actor in.
    pub pool: String,
    /// CBOR bytes, checked to decode.
    pub input: Option<Vec<u8>>,
    /// `rvt-region`: where the engine would place the actor; this server has one place.
    pub region: Option<String>,
    /// `rvt-crash-policy`.
    pub crash_policy: CrashPolicy,
}

/// What the engine does when the actor crashes (`rvt-crash-policy`, default `sleep`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPolicy {
    /// Start it again.
    Restart,
    /// Put it to sleep until the next request (the default).
    Sleep,
    /// Destroy it.
    Destroy,
}

/// Why a query path was refused; [`QueryError::code`] is the engine's `guard` error code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("invalid query gateway params: {0}")]
    /// A missing, unknown or badly valued `rvt-` parameter.
    InvalidParams(String),
    #[error("duplicate query gateway param: {0}")]
    /// An `rvt-` parameter given twice.
    DuplicateParam(String),
    #[error("query gateway paths must not use @token syntax")]
    /// `@token` in a query path (the token goes in `rvt-token` there).
    PathTokenSyntax,
    #[error("query gateway method=get does not allow rvt-input, rvt-region, rvt-crash-policy, rvt-runner or rvt-pool")]
    /// `rvt-method=get` with a parameter that only creation uses.
    GetDisallowedParams,
    #[error("query gateway method=getOrCreate requires rvt-runner or rvt-pool")]
    /// `rvt-method=getOrCreate` without `rvt-runner` or `rvt-pool`.
    MissingPool,
    #[error("query gateway actor name must not be empty")]
    /// No actor name after `/gateway/`.
    EmptyActorName,
    #[error("invalid base64url in query gateway input")]
    /// `rvt-input` is not unpadded base64url.
    InvalidBase64Input,
    #[error("invalid query gateway input cbor: {0}")]
    /// `rvt-input` does not decode as CBOR.
    InvalidCborInput(String),
    #[error("query gateway input is {0} bytes; the limit is {MAX_QUERY_INPUT}")]
    /// `rvt-input` is larger than [`MAX_QUERY_INPUT`] bytes once decoded.
    InputTooLarge(usize),
    #[error("invalid percent-encoding for query gateway param '{0}'")]
    /// A parameter or the name has an invalid percent escape.
    InvalidPercentEncoding(String),
}

impl QueryError {
    /// The error group every query error belongs to.
    pub const GROUP: &'static str = "guard";

    /// The engine's code for this error (`query_invalid_params`, …), in group [`Self::GROUP`].
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::InvalidParams(_) => "query_invalid_params",
            QueryError::DuplicateParam(_) => "query_duplicate_param",
            QueryError::PathTokenSyntax => "query_path_token_syntax",
            QueryError::GetDisallowedParams => "query_get_disallowed_params",
            QueryError::MissingPool => "query_missing_pool",
            QueryError::EmptyActorName => "query_empty_actor_name",
            QueryError::InvalidBase64Input => "query_invalid_base64_input",
            QueryError::InvalidCborInput(_) => "query_invalid_cbor_input",
            QueryError::InputTooLarge(_) => "query_input_too_large",
            QueryError::InvalidPercentEncoding(_) => "query_invalid_percent_encoding",
        }
    }
}

/// Parses a gateway path in either form. `Ok(None)`: not a gateway path, or a malformed id-form
/// path (both fall through to the other routes, as in the official gateway).
pub fn parse_gateway(
    path_and_query: &str,
    key_syntax: KeySyntax,
) -> Result<Option<GatewayRequest>, QueryError> {
    let without_fragment = path_and_query.split('#').next().unwrap_or_default();
    let (path, query) = without_fragment
        .split_once('?')
        .unwrap_or((without_fragment, ""));
    let mut segments = path.split('/').filter(|segment| !segment.is_empty());
    if path.contains("//") || segments.next() != Some("gateway") {
        return Ok(None);
    }
    let rvt = RvtParams::parse(query)?;
    if rvt.is_empty() {
        return Ok(parse_id_form(without_fragment, rvt));
    }
    if !rvt.names_an_actor() {
        return Ok(parse_id_form(&format!("{path}{}", actor_query(query)), rvt));
    }
    let name_segment = segments.next().ok_or(QueryError::EmptyActorName)?;
    if name_segment.contains('@') {
        return Err(QueryError::PathTokenSyntax);
    }
    let name = decode_uri_component(name_segment)
        .ok_or_else(|| QueryError::InvalidPercentEncoding("name".to_owned()))?;
    if name.is_empty() {
        return Err(QueryError::EmptyActorName);
    }
    let rest_path = actor_path(path, name_segment);
    let rest = format!("{rest_path}{}", actor_query(query));
    rvt.into_request(name, rest, key_syntax).map(Some)
}

/// The id form; `rvt` holds the `rvt-token` / `rvt-skip-ready-wait` already taken out of it.
fn parse_id_form(path_and_query: &str, rvt: RvtParams) -> Option<GatewayRequest> {
    let GatewayPath {
        actor_id,
        token,
        rest,
    } = parse_gateway_path(path_and_query)?;
    Some(GatewayRequest {
        target: ActorTarget::Id(actor_id),
        token: token.or(rvt.value("token").map(str::to_owned)),
        rest,
    })
}

/// The path after `/gateway/{name}`, starting with `/`.
fn actor_path<'a>(path: &'a str, name_segment: &str) -> &'a str {
    let after_gateway = &path[path.find("gateway").unwrap_or(0) + "gateway".len()..];
    let after_name = after_gateway
        .trim_start_matches('/')
        .strip_prefix(name_segment)
        .unwrap_or_default();
    if after_name.starts_with('/') {
        after_name
    } else {
        "/"
    }
}

/// The actor's own query parameters, unchanged and in order, as `?a=1&b=2` (or "").
fn actor_query(query: &str) -> String {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|part| !part.is_empty() && !param_name(part).starts_with(RVT_PREFIX))
        .collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    }
}

fn param_name(part: &str) -> &str {
    part.split('=').next().unwrap_or_default()
}

/// The `rvt-` parameters of a query, form-decoded, each at most once.
struct RvtParams(Vec<(String, String)>);

/// Every `rvt-` parameter the gateway knows (after the prefix).
const KNOWN_PARAMS: [&str; 10] = [
    "namespace",
    "method",
    "runner",
    "pool",
    "key",
    "input",
    "region",
    "crash-policy",
    "token",
    "skip-ready-wait",
];

impl RvtParams {
    fn parse(query: &str) -> Result<Self, QueryError> {
        let mut params: Vec<(String, String)> = Vec::new();
        for part in query.split('&') {
            let (raw_name, raw_value) = part.split_once('=').unwrap_or((part, ""));
            let Some(name) = raw_name.strip_prefix(RVT_PREFIX) else {
                continue;
            };
            if !KNOWN_PARAMS.contains(&name) {
                return Err(QueryError::InvalidParams(format!(
                    "unknown parameter {raw_name}"
                )));
            }
            if params.iter().any(|(seen, _)| seen == name) {
                return Err(QueryError::DuplicateParam(raw_name.to_owned()));
            }
            let value = decode_form_component(raw_value)
                .ok_or_else(|| QueryError::InvalidPercentEncoding(raw_name.to_owned()))?;
            params.push((name.to_owned(), value));
        }
        Ok(RvtParams(params))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether these parameters address an actor by name (anything but a token and the
    /// ready-wait flag).
    fn names_an_actor(&self) -> bool {
        self.0
            .iter()
            .any(|(name, _)| name != "token" && name != "skip-ready-wait")
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(seen, _)| seen == name)
            .map(|(_, value)| value.as_str())
    }

    fn into_request(
        self,
        name: String,
        rest: String,
        key_syntax: KeySyntax,
    ) -> Result<GatewayRequest, QueryError> {
        let missing = |param: &str| QueryError::InvalidParams(format!("missing rvt-{param}"));
        let namespace = self
            .value("namespace")
            .ok_or_else(|| missing("namespace"))?;
        if namespace.is_empty() {
            return Err(QueryError::InvalidParams(
                "rvt-namespace must not be empty".to_owned(),
            ));
        }
        if let Some(flag) = self.value("skip-ready-wait") {
            if !matches!(flag, "true" | "1" | "false" | "0") {
                return Err(QueryError::InvalidParams(format!(
                    "rvt-skip-ready-wait must be true, false, 1 or 0, not {flag:?}"
                )));
            }
        }
        let create = match self.value("method").ok_or_else(|| missing("method"))? {
            "get" => {
                let creation_only = ["input", "region", "crash-policy", "runner", "pool"];
                if creation_only
                    .iter()
                    .any(|param| self.value(param).is_some())
                {
                    return Err(QueryError::GetDisallowedParams);
                }
                None
            }
            "getOrCreate" => Some(self.create_request()?),
            other => {
                return Err(QueryError::InvalidParams(format!(
                    "unknown method {other:?}, expected get or getOrCreate"
                )))
            }
        };
        let key = key_syntax.split(self.value("key").unwrap_or_default());
        Ok(GatewayRequest {
            target: ActorTarget::Query(ActorQuery {
                namespace: namespace.to_owned(),
                name,
                key,
                create,
            }),
            token: self.value("token").map(str::to_owned),
            rest,
        })
    }

    fn create_request(&self) -> Result<CreateRequest, QueryError> {
        let pool = self
            .value("pool")
            .or(self.value("runner"))
            .ok_or(QueryError::MissingPool)?;
        let crash_policy = match self.value("crash-policy") {
            None | Some("sleep") => CrashPolicy::Sleep,
            Some("restart") => CrashPolicy::Restart,
            Some("destroy") => CrashPolicy::Destroy,
            Some(other) => {
                return Err(QueryError::InvalidParams(format!(
                    "unknown crash policy {other:?}, expected restart, sleep or destroy"
                )))
            }
        };
        Ok(CreateRequest {
            pool: pool.to_owned(),
            input: self.value("input").map(decode_input).transpose()?,
            region: self.value("region").map(str::to_owned),
            crash_policy,
        })
    }
}

/// `rvt-input`: unpadded base64url of CBOR, at most [`MAX_QUERY_INPUT`] bytes once decoded.
fn decode_input(encoded: &str) -> Result<Vec<u8>, QueryError> {
    // The size is checked before decoding anything: base64 is 4 characters per 3 bytes.
    if encoded.len() > MAX_QUERY_INPUT.div_ceil(3) * 4 {
        return Err(QueryError::InputTooLarge(encoded.len() / 4 * 3));
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| QueryError::InvalidBase64Input)?;
    if bytes.len() > MAX_QUERY_INPUT {
        return Err(QueryError::InputTooLarge(bytes.len()));
    }
    cbor::decode(&bytes).map_err(|error| QueryError::InvalidCborInput(error.to_string()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(path: &str) -> (ActorQuery, Option<String>, String) {
        match parse_gateway(path, KeySyntax::Plain).unwrap().unwrap() {
            GatewayRequest {
                target: ActorTarget::Query(query),
                token,
                rest,
            } => (query, token, rest),
            other => panic!("{path}: not a query path: {other:?}"),
        }
    }

    fn error(path: &str) -> QueryError {
        parse_gateway(path, KeySyntax::Plain).unwrap_err()
    }

    /// base64url (no padding) of CBOR `{"n": 1}`.
    const INPUT: &str = "oWFuAQ";

    #[test]
    fn id_form_is_unchanged() {
        let parsed = parse_gateway("/gateway/abc%2Fd@tok/action/x?y=1", KeySyntax::Plain)
            .unwrap()
            .unwrap();
        assert_eq!(parsed.target, ActorTarget::Id("abc/d".to_owned()));
        assert_eq!(parsed.token.as_deref(), Some("tok"));
        assert_eq!(parsed.rest, "/action/x?y=1");
        assert_eq!(parse_gateway("/actors", KeySyntax::Plain).unwrap(), None);
        assert_eq!(
            parse_gateway("/gateway//x", KeySyntax::Plain).unwrap(),
            None
        );
        assert_eq!(
            parse_gateway("/gateway/a%zz/connect", KeySyntax::Plain).unwrap(),
            None
        );
    }

    #[test]
    fn id_form_takes_a_query_token() {
        let parsed = parse_gateway(
            "/gateway/abc/request/x?a=1&rvt-token=t%2B&rvt-skip-ready-wait=1",
            KeySyntax::Plain,
        )
        .unwrap()
        .unwrap();
        assert_eq!(parsed.target, ActorTarget::Id("abc".to_owned()));
        assert_eq!(parsed.token.as_deref(), Some("t+"));
        assert_eq!(parsed.rest, "/request/x?a=1");
    }

    #[test]
    fn get_or_create_with_everything() {
        let (q, token, rest) = query(&format!(
            "/gateway/counter/action/increment?rvt-namespace=default&rvt-method=getOrCreate&rvt-runner=default&rvt-key=my-counter&rvt-input={INPUT}&rvt-region=local&rvt-crash-policy=destroy&rvt-token=s3cret"
        ));
        assert_eq!(q.namespace, "default");
        assert_eq!(q.name, "counter");
        assert_eq!(q.key, ["my-counter"]);
        let create = q.create.unwrap();
        assert_eq!(create.pool, "default");
        assert_eq!(create.input, Some(vec![0xa1, 0x61, 0x6e, 0x01]));
        assert_eq!(create.region.as_deref(), Some("local"));
        assert_eq!(create.crash_policy, CrashPolicy::Destroy);
        assert_eq!(token.as_deref(), Some("s3cret"));
        assert_eq!(rest, "/action/increment");
    }

    #[test]
    fn keys_split_on_commas_after_form_decoding() {
        let key = |raw: &str| {
            query(&format!("/gateway/a?rvt-namespace=n&rvt-method=get{raw}"))
                .0
                .key
        };
        assert_eq!(key("&rvt-key=a%2Cb"), ["a", "b"]);
        assert_eq!(key("&rvt-key=a,b"), ["a", "b"]);
        assert_eq!(key("&rvt-key=x%2Fy+z"), ["x/y z"]);
        assert_eq!(key("&rvt-key=a,,"), ["a", "", ""]);
        assert_eq!(key("&rvt-key="), Vec::<String>::new());
        assert_eq!(key(""), Vec::<String>::new());
    }

    #[test]
    fn escaped_keys_of_3x_clients() {
        let key = |raw: &str| {
            let path = format!("/gateway/a?rvt-namespace=n&rvt-method=get&rvt-key={raw}");
            match parse_gateway(&path, KeySyntax::Escaped)
                .unwrap()
                .unwrap()
                .target
            {
                ActorTarget::Query(query) => query.key,
                other => panic!("{other:?}"),
            }
        };
        // `a\,b` and `c`: a comma inside a part; `\0` alone is an empty part.
        assert_eq!(key("a%5C%2Cb%2Cc"), ["a,b", "c"]);
        assert_eq!(key("%5C0"), [""]);
        assert_eq!(key("%5C0%2Cx"), ["", "x"]);
        assert_eq!(key("x%5C0"), ["x\\0"]);
        assert_eq!(key("a%5C%5Cb"), ["a\\b"]);
        assert_eq!(key("a%5Cb"), ["a\\b"], "a lone backslash stands for itself");
        assert_eq!(key("a%2Cb"), ["a", "b"]);
        assert_eq!(key(""), Vec::<String>::new());
    }

    #[test]
    fn actor_query_parameters_pass_through_byte_for_byte() {
        let (_, _, rest) = query(
            "/gateway/chat%20room/request/api?q=a+b&rvt-namespace=n&&tag=c%2B%2B&rvt-method=get&lower=%2f",
        );
        assert_eq!(rest, "/request/api?q=a+b&tag=c%2B%2B&lower=%2f");
        let (q, _, rest) = query("/gateway/chat%20room?rvt-namespace=n&rvt-method=get");
        assert_eq!(q.name, "chat room");
        assert_eq!(rest, "/");
        // Everything after `#` is a fragment, the query included.
        let fragment = parse_gateway(
            "/gateway/a/connect#f?rvt-namespace=n&rvt-method=get",
            KeySyntax::Plain,
        );
        assert_eq!(
            fragment.unwrap().unwrap().target,
            ActorTarget::Id("a".to_owned())
        );
    }

    #[test]
    fn malformed_queries_are_typed_errors() {
        let base = "/gateway/a/action/x?rvt-namespace=n";
        assert!(
            matches!(error("/gateway/a?rvt-method=get"), QueryError::InvalidParams(m) if m.contains("namespace"))
        );
        assert!(
            matches!(error("/gateway/a?rvt-namespace=&rvt-method=get"), QueryError::InvalidParams(m) if m.contains("empty"))
        );
        assert!(matches!(error(base), QueryError::InvalidParams(m) if m.contains("method")));
        assert!(
            matches!(error(&format!("{base}&rvt-method=list")), QueryError::InvalidParams(m) if m.contains("list"))
        );
        assert!(
            matches!(error(&format!("{base}&rvt-method=get&rvt-bogus=1")), QueryError::InvalidParams(m) if m.contains("rvt-bogus"))
        );
        assert_eq!(
            error(&format!("{base}&rvt-method=get&rvt-method=get")),
            QueryError::DuplicateParam("rvt-method".to_owned())
        );
        assert_eq!(
            error("/gateway/a@t?rvt-namespace=n&rvt-method=get"),
            QueryError::PathTokenSyntax
        );
        assert_eq!(
            error("/gateway?rvt-namespace=n&rvt-method=get"),
            QueryError::EmptyActorName
        );
        assert_eq!(
            error("/gateway/%zz?rvt-namespace=n&rvt-method=get"),
            QueryError::InvalidPercentEncoding("name".to_owned())
        );
        assert_eq!(
            error(&format!("{base}&rvt-method=get&rvt-key=%zz")),
            QueryError::InvalidPercentEncoding("rvt-key".to_owned())
        );
        for extra in [
            "rvt-input=oA",
            "rvt-region=r",
            "rvt-crash-policy=sleep",
            "rvt-runner=default",
            "rvt-pool=p",
        ] {
            assert_eq!(
                error(&format!("{base}&rvt-method=get&{extra}")),
                QueryError::GetDisallowedParams,
                "{extra}"
            );
        }
        assert_eq!(
            error(&format!("{base}&rvt-method=getOrCreate")),
            QueryError::MissingPool
        );
        let create = format!("{base}&rvt-method=getOrCreate&rvt-runner=default");
        assert!(matches!(
            error(&format!("{create}&rvt-crash-policy=explode")),
            QueryError::InvalidParams(_)
        ));
        assert!(matches!(
            error(&format!("{create}&rvt-skip-ready-wait=maybe")),
            QueryError::InvalidParams(_)
        ));
        assert_eq!(
            error(&format!("{create}&rvt-input=oW+u")),
            QueryError::InvalidBase64Input
        );
        assert_eq!(
            error(&format!("{create}&rvt-input=o")),
            QueryError::InvalidBase64Input
        );
        assert!(matches!(
            error(&format!("{create}&rvt-input=oQ")),
            QueryError::InvalidCborInput(_)
        ));
        let huge = "A".repeat(8000);
        assert!(matches!(
            error(&format!("{create}&rvt-input={huge}")),
            QueryError::InputTooLarge(_)
        ));
    }

    #[test]
    fn hostile_input_is_cheap_to_refuse() {
        // 34 nested one-entry maps whose keys are maps: refused without doubling work per level.
        let bomb = [vec![0xa1; 34], vec![0x00; 35]].concat();
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bomb);
        let path = format!(
            "/gateway/a?rvt-namespace=n&rvt-method=getOrCreate&rvt-runner=d&rvt-input={encoded}"
        );
        assert!(matches!(error(&path), QueryError::InvalidCborInput(_)));
    }
}
