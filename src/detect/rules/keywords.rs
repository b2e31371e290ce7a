//! Parsed forms of the non-content keywords: pcre, isdataat, byte_*, bsize, packet-header
//! keywords, flowbits, threshold and detection_filter.

/// A number, or a variable set earlier in the rule by byte_extract/byte_math.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// A literal.
    Lit(i64),
    /// Variable slot (0..MAX_VARS).
    Var(u8),
}

/// Variables one rule may define.
pub const MAX_VARS: usize = 8;

/// Integer comparison used by dsize, ttl, itype, bsize, urilen...
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `N`
    Eq(u64),
    /// `!N`
    Ne(u64),
    /// `<N`
    Lt(u64),
    /// `<=N`
    Le(u64),
    /// `>N`
    Gt(u64),
    /// `>=N`
    Ge(u64),
    /// `N<>M` or `N-M`: strictly between.
    Between(u64, u64),
    /// `!N-M`: outside the open range.
    NotBetween(u64, u64),
    /// Flag sets (`mqtt.flags:dup,!retain`): the bits of `mask` equal those of `value`.
    Bits {
        /// Bits tested.
        mask: u64,
        /// Their required values.
        value: u64,
    },
}

impl Cmp {
    /// Whether `v` satisfies the comparison.
    #[inline]
    pub fn test(self, v: u64) -> bool {
        match self {
            Cmp::Eq(n) => v == n,
            Cmp::Ne(n) => v != n,
            Cmp::Lt(n) => v < n,
            Cmp::Le(n) => v <= n,
            Cmp::Gt(n) => v > n,
            Cmp::Ge(n) => v >= n,
            Cmp::Between(a, b) => v > a && v < b,
            Cmp::NotBetween(a, b) => !(v > a && v < b),
            Cmp::Bits { mask, value } => v & mask == value,
        }
    }

    /// Parses a comma-separated flag list (`dup,!retain`) against the names and bits of
    /// `flags`: each named flag must be set, each `!`-prefixed one clear.
    pub fn parse_flags(s: &str, flags: &[(&str, u64)]) -> Result<Cmp, String> {
        let (mut mask, mut value) = (0, 0);
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (neg, name) = match item.strip_prefix('!') {
                Some(n) => (true, n.trim()),
                None => (false, item),
            };
            let Some(&(_, bit)) = flags.iter().find(|(n, _)| *n == name) else {
                let known: Vec<_> = flags.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "unknown flag '{name}' (known: {})",
                    known.join(", ")
                ));
            };
            if mask & bit != 0 {
                return Err(format!("flag '{name}' given twice"));
            }
            mask |= bit;
            if !neg {
                value |= bit;
            }
        }
        if mask == 0 {
            return Err("no flags given".into());
        }
        Ok(Cmp::Bits { mask, value })
    }

    /// Parses Suricata's unsigned-integer comparison syntax, limited to `max`.
    pub fn parse(s: &str, max: u64) -> Result<Cmp, String> {
        let s = s.trim();
        let n = |t: &str| -> Result<u64, String> {
            let t = t.trim();
            let v = if let Some(hex) = t.strip_prefix("0x") {
                u64::from_str_radix(hex, 16)
            } else {
                t.parse::<u64>()
            }
            .map_err(|_| format!("invalid number '{t}'"))?;
            if v > max {
                return Err(format!("{v} exceeds {max}"));
            }
            Ok(v)
        };
        let range = |a: &str, b: &str| -> Result<(u64, u64), String> {
            let (a, b) = (n(a)?, n(b)?);
            if a >= b {
                return Err(format!("range {a}..{b} is empty"));
            }
            Ok((a, b))
        };
        if let Some((a, b)) = s.split_once("<>") {
            let (a, b) = range(a, b)?;
            return Ok(Cmp::Between(a, b));
        }
        if let Some(r) = s.strip_prefix("<=") {
            return Ok(Cmp::Le(n(r)?));
        }
        if let Some(r) = s.strip_prefix(">=") {
            return Ok(Cmp::Ge(n(r)?));
        }
        if let Some(r) = s.strip_prefix('<') {
            return Ok(Cmp::Lt(n(r)?));
        }
        if let Some(r) = s.strip_prefix('>') {
            return Ok(Cmp::Gt(n(r)?));
        }
        if let Some(r) = s.strip_prefix('!') {
            if let Some((a, b)) = r.split_once('-') {
                let (a, b) = range(a, b)?;
                return Ok(Cmp::NotBetween(a, b));
            }
            return Ok(Cmp::Ne(n(r)?));
        }
        if let Some(r) = s.strip_prefix('=') {
            return Ok(Cmp::Eq(n(r)?));
        }
        if let Some((a, b)) = s.split_once('-') {
            let (a, b) = range(a, b)?;
            return Ok(Cmp::Between(a, b));
        }
        Ok(Cmp::Eq(n(s)?))
    }
}

/// A condition on a transaction's files; all of a rule's must hold for one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileCondSpec {
    /// `filesize`: the file's size (`<`, `=` and ranges once the file is complete).
    Size(Cmp),
    /// `filemd5`/`filesha1`/`filesha256:[!]list`: the file's hash is (not) in the list file.
    Hash {
        /// The hash ([`crate::applayer::files::hash`] bit).
        kind: u8,
        /// `!`: the hash must not be in the list.
        negated: bool,
        /// The list file, relative to the rule file's directory.
        list: String,
    },
    /// `filestore`: the file is written to the file store.
    Store,
}

/// Parses a `filesize` value: a comparison whose numbers may carry a unit (`KB`, `MB`,
/// `GB`, powers of 1024).
pub fn parse_filesize(v: &str) -> Result<Cmp, String> {
    // Scale each number by its unit, then parse the comparison.
    let mut text = String::new();
    let mut rest = v.trim();
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            let c = rest.chars().next().expect("not empty");
            text.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid size '{v}'"))?;
        rest = &rest[digits..];
        let upper = rest.to_ascii_uppercase();
        let (mult, unit_len) = match () {
            _ if upper.starts_with("KB") => (1u64 << 10, 2),
            _ if upper.starts_with("MB") => (1 << 20, 2),
            _ if upper.starts_with("GB") => (1 << 30, 2),
            _ => (1, 0),
        };
        rest = &rest[unit_len..];
        let scaled = n
            .checked_mul(mult)
            .ok_or_else(|| format!("size '{v}' too large"))?;
        text.push_str(&scaled.to_string());
    }
    Cmp::parse(&text, u64::MAX)
}

/// Seconds an xbit lives when the rule gives no `expire`.
pub const XBITS_DEFAULT_EXPIRE: u32 = 30;

/// Parses `xbits:<set|unset|toggle|isset|isnotset>,<name>,track <ip_src|ip_dst|ip_pair>[,expire <s>]`;
/// `xbits:noalert` returns `None`.
pub fn parse_xbits(
    v: &str,
) -> Result<
    Option<(
        String,
        crate::detect::xbits::XOp,
        crate::detect::xbits::XTrack,
    )>,
    String,
> {
    use crate::detect::xbits::{XOp, XTrack};
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    if parts == ["noalert"] {
        return Ok(None);
    }
    if parts.len() < 3 {
        return Err("xbits needs command, name and track".into());
    }
    let name = parts[1];
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(format!("invalid xbit name '{name}'"));
    }
    let mut track = None;
    let mut expire = None;
    for opt in &parts[2..] {
        // `track ip_src`, and as Suricata also takes it, `expire: 10`.
        let mut w = opt
            .split(|c: char| c.is_whitespace() || c == ':')
            .filter(|w| !w.is_empty());
        match (w.next(), w.next(), w.next()) {
            (Some("track"), Some(t), None) => {
                track = Some(match t {
                    "ip_src" => XTrack::IpSrc,
                    "ip_dst" => XTrack::IpDst,
                    "ip_pair" => XTrack::IpPair,
                    other => return Err(format!("unknown xbits track '{other}'")),
                })
            }
            (Some("expire"), Some(n), None) => {
                expire = Some(
                    n.parse::<u32>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("invalid expire '{n}'"))?,
                )
            }
            _ => return Err(format!("invalid xbits option '{opt}'")),
        }
    }
    let track = track.ok_or("xbits needs 'track ip_src|ip_dst|ip_pair'")?;
    let secs = expire.unwrap_or(XBITS_DEFAULT_EXPIRE);
    let op = match parts[0] {
        "set" => XOp::Set(secs),
        "unset" => XOp::Unset,
        "toggle" => XOp::Toggle(secs),
        "isset" => XOp::IsSet,
        "isnotset" => XOp::IsNotSet,
        other => return Err(format!("unknown xbits command '{other}'")),
    };
    Ok(Some((name.to_string(), op, track)))
}

/// Which side(s) `stream_size` looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamSide {
    /// Bytes sent by the server.
    Server,
    /// Bytes sent by the client.
    Client,
    /// Both sides must satisfy the comparison.
    Both,
    /// Either side may.
    Either,
}

/// Parses `stream_size:<server|client|both|either>,<op>,<number>`.
pub fn parse_stream_size(v: &str) -> Result<(StreamSide, Cmp), String> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let [side, op, n] = parts[..] else {
        return Err("stream_size needs side, operator, number".into());
    };
    let side = match side {
        "server" => StreamSide::Server,
        "client" => StreamSide::Client,
        "both" => StreamSide::Both,
        "either" => StreamSide::Either,
        other => return Err(format!("unknown stream_size side '{other}'")),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("invalid stream_size number '{n}'"))?;
    let cmp = match op {
        "<" => Cmp::Lt(n),
        ">" => Cmp::Gt(n),
        "=" => Cmp::Eq(n),
        "!=" => Cmp::Ne(n),
        "<=" => Cmp::Le(n),
        ">=" => Cmp::Ge(n),
        other => return Err(format!("unknown stream_size operator '{other}'")),
    };
    Ok((side, cmp))
}

/// `pcre:"/.../flags"`, before compilation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcreSpec {
    /// The expression as given between the slashes.
    pub pattern: String,
    /// `!`: the rule matches when the expression does not.
    pub negated: bool,
    /// `R`: search from the end of the previous match.
    pub relative: bool,
    /// `i`
    pub caseless: bool,
    /// `s`
    pub dotall: bool,
    /// `m`
    pub multiline: bool,
    /// `x`
    pub extended: bool,
    /// `A`: anchored at the search start.
    pub anchored: bool,
    /// `G`: quantifiers ungreedy by default.
    pub ungreedy: bool,
    /// `E`: `$` matches only at the very end.
    pub dollar_endonly: bool,
    /// Capture groups stored in variables, in group order: (flow variable (else packet
    /// variable), name). From `,flow:name`/`,pkt:name` after the flags, or named groups
    /// `(?P<flow_name>...)`/`(?P<pkt_name>...)`.
    pub captures: Vec<(bool, String)>,
}

/// Parses a pcre value; returns the spec and the buffer its flags select (if any).
pub fn parse_pcre(v: &str) -> Result<(PcreSpec, Option<&'static str>), String> {
    let mut s = v.trim();
    let mut negated = false;
    if let Some(r) = s.strip_prefix('!') {
        negated = true;
        s = r.trim_start();
    }
    // Quoted as usual; Suricata also takes the value bare (`pcre: /x/i, flow:v`).
    let body = match s.strip_prefix('"') {
        Some(b) => b
            .strip_suffix('"')
            .ok_or_else(|| format!("pcre value is not closed by a quote: {v}"))?,
        None => s,
    };
    let body = body.replace("\\;", ";").replace("\\\"", "\"");
    let body = body.strip_prefix('/').ok_or("pcre must start with '/'")?;
    let end = body.rfind('/').ok_or("pcre must end with '/flags'")?;
    let (pattern, tail) = (&body[..end], &body[end + 1..]);
    // After the flags: the variables the capture groups go to.
    let (flags, vars) = match tail.split_once(',') {
        Some((f, vars)) => (f.trim(), Some(vars)),
        None => (tail.trim(), None),
    };
    let mut captures = Vec::new();
    for var in vars.into_iter().flat_map(|v| v.split(',')) {
        let var = var.trim().trim_matches('"');
        let (scope, name) = var
            .split_once(':')
            .ok_or_else(|| format!("pcre capture '{var}' is not flow:NAME or pkt:NAME"))?;
        let flow = match scope.trim() {
            "flow" => true,
            "pkt" => false,
            other => return Err(format!("pcre capture scope '{other}' (flow or pkt)")),
        };
        let name = name.trim();
        if name.is_empty() {
            return Err("pcre capture without a variable name".into());
        }
        captures.push((flow, name.to_string()));
    }
    if captures.is_empty() {
        // Named groups `(?P<flow_x>` / `(?P<pkt_x>` capture into variables by their name.
        let mut rest = pattern;
        while let Some(i) = rest.find("(?P<") {
            rest = &rest[i + 4..];
            let name = &rest[..rest.find('>').unwrap_or(0)];
            if let Some(n) = name.strip_prefix("flow_") {
                captures.push((true, n.to_string()));
            } else if let Some(n) = name.strip_prefix("pkt_") {
                captures.push((false, n.to_string()));
            }
        }
    }
    let mut spec = PcreSpec {
        pattern: pattern.to_string(),
        negated,
        relative: false,
        caseless: false,
        dotall: false,
        multiline: false,
        extended: false,
        anchored: false,
        ungreedy: false,
        dollar_endonly: false,
        captures,
    };
    let mut buffer = None;
    let mut set_buf = |name: &'static str| -> Result<(), String> {
        match buffer {
            Some(b) if b != name => Err(format!("pcre selects two buffers ({b}, {name})")),
            _ => {
                buffer = Some(name);
                Ok(())
            }
        }
    };
    for f in flags.chars() {
        match f {
            'i' => spec.caseless = true,
            's' => spec.dotall = true,
            'm' => spec.multiline = true,
            'x' => spec.extended = true,
            'A' => spec.anchored = true,
            'E' => spec.dollar_endonly = true,
            'G' => spec.ungreedy = true,
            'R' => spec.relative = true,
            'B' | 'O' => {}
            'U' => set_buf("http.uri")?,
            'I' => set_buf("http.uri.raw")?,
            'P' => set_buf("http.request_body")?,
            'Q' => set_buf("file.data")?,
            'H' => set_buf("http.header")?,
            'D' => set_buf("http.header.raw")?,
            'M' => set_buf("http.method")?,
            'C' => set_buf("http.cookie")?,
            'K' => set_buf("http.cookie")?,
            'S' => set_buf("http.stat_code")?,
            'Y' => set_buf("http.stat_msg")?,
            'V' => set_buf("http.user_agent")?,
            'W' => set_buf("http.host")?,
            'Z' => set_buf("http.host.raw")?,
            other => return Err(format!("unknown pcre flag '{other}'")),
        }
    }
    if spec.pattern.is_empty() {
        return Err("empty pcre".into());
    }
    Ok((spec, buffer))
}

/// What a `flowint` does: modify the flow's integer, or test it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowintOp {
    /// `=`: set.
    Set,
    /// `+`: add (a missing variable counts from 0).
    Add,
    /// `-`: subtract.
    Sub,
    /// `unset`.
    Unset,
    /// `isset`.
    IsSet,
    /// `notset` / `isnotset`.
    NotSet,
    /// A comparison of the variable with the value (the variable must be set).
    Cmp(FlowintCmp),
}

/// `flowint` comparisons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum FlowintCmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl FlowintCmp {
    /// Whether `a <op> b`.
    pub fn test(self, a: i64, b: i64) -> bool {
        match self {
            FlowintCmp::Eq => a == b,
            FlowintCmp::Ne => a != b,
            FlowintCmp::Lt => a < b,
            FlowintCmp::Le => a <= b,
            FlowintCmp::Gt => a > b,
            FlowintCmp::Ge => a >= b,
        }
    }
}

/// The operand of a `flowint`: a number or another flow integer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowintValue {
    /// A number.
    Lit(i64),
    /// Another variable, by name.
    Var(String),
}

/// `flowint:name, op[, value]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowintSpec {
    /// Variable name.
    pub name: String,
    /// Operation.
    pub op: FlowintOp,
    /// Operand (modifications and comparisons).
    pub value: Option<FlowintValue>,
}

/// Parses a `flowint` value.
pub fn parse_flowint(v: &str) -> Result<FlowintSpec, String> {
    let parts: Vec<&str> = v.split(',').map(str::trim).collect();
    let name = parts.first().copied().unwrap_or("");
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(format!("bad variable name '{name}'"));
    }
    let op_text = parts.get(1).copied().ok_or("needs an operation")?;
    let op = match op_text {
        "=" => FlowintOp::Set,
        "+" => FlowintOp::Add,
        "-" => FlowintOp::Sub,
        "unset" => FlowintOp::Unset,
        "isset" => FlowintOp::IsSet,
        "notset" | "isnotset" => FlowintOp::NotSet,
        "==" => FlowintOp::Cmp(FlowintCmp::Eq),
        "!=" => FlowintOp::Cmp(FlowintCmp::Ne),
        "<" => FlowintOp::Cmp(FlowintCmp::Lt),
        "<=" => FlowintOp::Cmp(FlowintCmp::Le),
        ">" => FlowintOp::Cmp(FlowintCmp::Gt),
        ">=" => FlowintOp::Cmp(FlowintCmp::Ge),
        other => return Err(format!("unknown operation '{other}'")),
    };
    let needs_value = !matches!(op, FlowintOp::Unset | FlowintOp::IsSet | FlowintOp::NotSet);
    let value = match (parts.get(2).copied(), needs_value) {
        (Some(t), true) if !t.is_empty() => Some(match t.parse::<i64>() {
            Ok(n) => FlowintValue::Lit(n),
            Err(_) if !t.contains(char::is_whitespace) => FlowintValue::Var(t.to_string()),
            Err(_) => return Err(format!("bad value '{t}'")),
        }),
        (_, true) => return Err(format!("'{op_text}' needs a value")),
        (None, false) => None,
        (Some(_), false) => return Err(format!("'{op_text}' takes no value")),
    };
    if parts.len() > 3 {
        return Err("too many arguments".into());
    }
    Ok(FlowintSpec {
        name: name.to_string(),
        op,
        value,
    })
}

/// `base64_decode:[bytes N][, offset N][, relative]`: which bytes of the buffer are decoded
/// for the `base64_data` that follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Base64Decode {
    /// Encoded bytes decoded at most (0: to the end of the buffer); at most 64 KiB.
    pub bytes: u32,
    /// Bytes skipped first, from the buffer start or (relative) the previous match.
    pub offset: u32,
    /// Start from the end of the previous match.
    pub relative: bool,
}

impl Base64Decode {
    /// Parses the keyword's value (None: decode the whole buffer).
    pub fn parse(v: Option<&str>) -> Result<Base64Decode, String> {
        let mut d = Base64Decode {
            bytes: 0,
            offset: 0,
            relative: false,
        };
        for opt in v
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
        {
            let mut words = opt.split_whitespace();
            let key = words.next().unwrap_or("");
            let num = |w: Option<&str>| -> Result<u32, String> {
                w.and_then(|n| n.parse::<u32>().ok())
                    .ok_or_else(|| format!("'{key}' needs a number"))
            };
            match key {
                "bytes" => d.bytes = num(words.next())?.min(65_535),
                "offset" => d.offset = num(words.next())?.min(65_535),
                "relative" => d.relative = true,
                other => return Err(format!("unknown base64_decode option '{other}'")),
            }
        }
        Ok(d)
    }
}

/// `isdataat:[!]N[,relative]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsDataAt {
    /// Offset.
    pub offset: Value,
    /// Relative to the previous match.
    pub relative: bool,
    /// `!`: data must not be there.
    pub negated: bool,
}

/// Byte order of extracted numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    /// Big endian (default).
    Big,
    /// Little endian (also `dce`).
    Little,
}

/// Number base for `string` extraction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// `hex`
    Hex,
    /// `dec`
    Dec,
    /// `oct`
    Oct,
}

/// How bytes are read into a number (shared by byte_test/jump/extract/math).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extract {
    /// Bytes to read.
    pub nbytes: u8,
    /// Bytes to read taken from a byte_extract/byte_math variable instead (binary reads
    /// clamp it to 1..=8, string reads to 1..=20).
    pub nbytes_var: Option<u8>,
    /// Offset, absolute or relative.
    pub offset: Value,
    /// Relative to the previous match.
    pub relative: bool,
    /// Binary byte order.
    pub endian: Endian,
    /// Read as ASCII digits in this base instead of binary.
    pub string: Option<Base>,
    /// AND mask, then shift right by its trailing zeros.
    pub bitmask: Option<u64>,
}

/// Operator of byte_test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOp {
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `=`
    Eq,
    /// `<=`
    Le,
    /// `>=`
    Ge,
    /// `&` (any bit of value set)
    And,
    /// `^` (XOR non-zero)
    Xor,
}

/// `byte_test`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteTest {
    /// Reading.
    pub ex: Extract,
    /// Operator.
    pub op: ByteOp,
    /// `!op`.
    pub negated: bool,
    /// Right-hand value.
    pub value: Value,
}

/// `byte_jump`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteJump {
    /// Reading.
    pub ex: Extract,
    /// Multiply the value.
    pub multiplier: u32,
    /// Round the jump up to a multiple of 4.
    pub align: bool,
    /// Jump from the buffer start instead of after the read bytes.
    pub from_beginning: bool,
    /// Jump from the buffer end.
    pub from_end: bool,
    /// Added after the jump.
    pub post_offset: i64,
}

/// `byte_extract`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteExtract {
    /// Reading.
    pub ex: Extract,
    /// Multiply the value.
    pub multiplier: u32,
    /// Round up to this alignment (2 or 4), 0 = none.
    pub align: u8,
    /// Variable slot written.
    pub var: u8,
}

/// Operator of byte_math.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MathOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
}

/// `byte_math`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteMath {
    /// Reading.
    pub ex: Extract,
    /// Operator.
    pub op: MathOp,
    /// Right operand.
    pub rvalue: Value,
    /// Variable slot written.
    pub var: u8,
}

/// Keywords that test packet header fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PacketCond {
    /// Payload size.
    Dsize(Cmp),
    /// IP TTL / hop limit.
    Ttl(Cmp),
    /// IP protocol number.
    IpProto(Cmp),
    /// ICMP type.
    Itype(Cmp),
    /// ICMP code.
    Icode(Cmp),
    /// ICMP echo identifier.
    IcmpId(u16),
    /// ICMP echo sequence.
    IcmpSeq(u16),
    /// TCP flags: `(mask of flags, required bits, mode)`.
    Flags(TcpFlagsMatch),
    /// TCP window (negated when the bool is set).
    Window(bool, u16),
    /// TCP sequence number.
    Seq(u32),
    /// TCP acknowledgement number.
    Ack(u32),
    /// Source and destination address are the same.
    SameIp,
    /// IPv4 identification field.
    IpId(u16),
    /// `ipv4-csum`, `tcpv4-csum`... : (which header, must be valid).
    Checksum(CsumKind, bool),
}

/// Which checksum a `*-csum` keyword checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsumKind {
    /// IPv4 header.
    Ipv4,
    /// TCP over IPv4 or IPv6 (the keyword's family must match the packet's).
    Tcp(u8),
    /// UDP over IPv4 or IPv6.
    Udp(u8),
    /// ICMPv4 or ICMPv6.
    Icmp(u8),
}

/// How `flags` compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagsMode {
    /// Exactly these (after the ignore mask).
    Exact,
    /// These and maybe others (`+`).
    All,
    /// Any of these (`*`).
    Any,
    /// None of these (`!`).
    Not,
}

/// A parsed `flags` keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpFlagsMatch {
    /// Flags named.
    pub flags: u8,
    /// Bits to ignore.
    pub ignore: u8,
    /// Comparison.
    pub mode: FlagsMode,
}

impl TcpFlagsMatch {
    /// Whether a packet's flag byte matches.
    #[inline]
    pub fn test(self, pkt: u8) -> bool {
        let pkt = pkt & !self.ignore;
        match self.mode {
            FlagsMode::Exact => pkt == self.flags,
            FlagsMode::All => pkt & self.flags == self.flags,
            FlagsMode::Any => pkt & self.flags != 0 || self.flags == 0 && pkt == 0,
            FlagsMode::Not => pkt & self.flags == 0,
        }
    }
}

fn flag_bits(s: &str) -> Result<u8, String> {
    let mut bits = 0u8;
    for c in s.chars() {
        bits |= match c.to_ascii_uppercase() {
            'F' => 0x01,
            'S' => 0x02,
            'R' => 0x04,
            'P' => 0x08,
            'A' => 0x10,
            'U' => 0x20,
            'E' | '2' => 0x40,
            'C' | '1' => 0x80,
            '0' => 0,
            other => return Err(format!("unknown TCP flag '{other}'")),
        };
    }
    Ok(bits)
}

/// Parses `flags:[!+*]FLAGS[,IGNORE]`.
pub fn parse_flags(v: &str) -> Result<TcpFlagsMatch, String> {
    let (main, ignore) = match v.split_once(',') {
        Some((m, i)) => (m.trim(), flag_bits(i.trim())?),
        None => (v.trim(), 0),
    };
    let (mode, rest) = match main.chars().next() {
        Some('+') => (FlagsMode::All, &main[1..]),
        Some('*') => (FlagsMode::Any, &main[1..]),
        Some('!') => (FlagsMode::Not, &main[1..]),
        _ => (FlagsMode::Exact, main),
    };
    // Modifiers may also trail the flags ("SA+").
    let (mode, rest) = match rest.chars().last() {
        Some('+') => (FlagsMode::All, &rest[..rest.len() - 1]),
        Some('*') => (FlagsMode::Any, &rest[..rest.len() - 1]),
        Some('!') => (FlagsMode::Not, &rest[..rest.len() - 1]),
        _ => (mode, rest),
    };
    if rest.is_empty() {
        return Err("flags needs at least one flag".into());
    }
    Ok(TcpFlagsMatch {
        flags: flag_bits(rest)?,
        ignore,
        mode,
    })
}

/// One flowbits operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowbitOp {
    /// Set (all names).
    Set(Vec<String>),
    /// Unset.
    Unset(Vec<String>),
    /// Toggle.
    Toggle(Vec<String>),
    /// Condition: any of the names set (`a|b`) or all (`a&b`; `all` = true).
    IsSet(Vec<String>, bool),
    /// Condition: none (`all` = false: any not set) of the names set.
    IsNotSet(Vec<String>, bool),
}

/// Parses `flowbits:cmd[,name]`; `noalert` returns `None`.
pub fn parse_flowbits(v: &str) -> Result<Option<FlowbitOp>, String> {
    let (cmd, names) = match v.split_once(',') {
        Some((c, n)) => (c.trim(), Some(n.trim())),
        None => (v.trim(), None),
    };
    if cmd == "noalert" {
        return Ok(None);
    }
    let names = names
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("flowbits:{cmd} needs a name"))?;
    let and = names.contains('&');
    let list: Vec<String> = names
        .split(['|', '&'])
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    if list.is_empty() || list.iter().any(|n| n.contains(char::is_whitespace)) {
        return Err(format!("invalid flowbit name '{names}'"));
    }
    if names.contains('|') && and {
        return Err("flowbits cannot mix '|' and '&'".into());
    }
    Ok(Some(match cmd {
        "set" => FlowbitOp::Set(list),
        "unset" => FlowbitOp::Unset(list),
        "toggle" => FlowbitOp::Toggle(list),
        "isset" => FlowbitOp::IsSet(list, and || names.split('|').count() == 1),
        "isnotset" => FlowbitOp::IsNotSet(list, and || names.split('|').count() == 1),
        other => return Err(format!("unknown flowbits command '{other}'")),
    }))
}

/// What a threshold counts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Track {
    /// Source address.
    BySrc,
    /// Destination address.
    ByDst,
    /// The rule as a whole.
    ByRule,
    /// Source and destination pair.
    ByBoth,
    /// The flow.
    ByFlow,
}

/// Threshold kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThresholdKind {
    /// Alert at most `count` times per window.
    Limit,
    /// Alert on every `count`-th match.
    Threshold,
    /// Alert once per window after `count` matches.
    Both,
    /// `detection_filter`: alert on every match after the first `count` in the window.
    DetectionFilter,
    /// Alert on the `count`-th match, then each time the count grows by `multiplier`
    /// (count 1, multiplier 10: the 1st, 10th, 100th...); per track key, no window.
    Backoff,
}

/// `unique_on` of a detection_filter: the port whose distinct values are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniqueOn {
    /// Source port.
    SrcPort,
    /// Destination port.
    DstPort,
}

/// `threshold` or `detection_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThresholdSpec {
    /// `unique_on`: count distinct ports instead of matches (detection_filter only).
    pub unique_on: Option<UniqueOn>,
    /// Kind.
    pub kind: ThresholdKind,
    /// Key.
    pub track: Track,
    /// Count.
    pub count: u32,
    /// Window in seconds (0 for backoff).
    pub seconds: u32,
    /// Growth factor of `backoff`.
    pub multiplier: u32,
}

/// Parses `type T, track X, count N, seconds S` (detection_filter has no type).
pub fn parse_threshold(v: &str, detection_filter: bool) -> Result<ThresholdSpec, String> {
    let (mut kind, mut track, mut count, mut seconds, mut multiplier) = (
        detection_filter.then_some(ThresholdKind::DetectionFilter),
        None,
        None,
        None,
        None,
    );
    let mut unique_on = None;
    for part in v.split(',') {
        let mut it = part.split_whitespace();
        let (Some(k), Some(val), None) = (it.next(), it.next(), it.next()) else {
            return Err(format!("invalid threshold part '{}'", part.trim()));
        };
        match k {
            "type" if !detection_filter => {
                kind = Some(match val {
                    "limit" => ThresholdKind::Limit,
                    "threshold" => ThresholdKind::Threshold,
                    "both" => ThresholdKind::Both,
                    "backoff" => ThresholdKind::Backoff,
                    other => return Err(format!("unknown threshold type '{other}'")),
                })
            }
            "track" => {
                track = Some(match val {
                    "by_src" => Track::BySrc,
                    "by_dst" => Track::ByDst,
                    "by_rule" => Track::ByRule,
                    "by_both" => Track::ByBoth,
                    "by_flow" => Track::ByFlow,
                    other => return Err(format!("unknown track '{other}'")),
                })
            }
            "count" => {
                count = Some(
                    val.parse::<u32>()
                        .map_err(|_| format!("invalid count '{val}'"))?,
                )
            }
            "multiplier" => {
                multiplier = Some(
                    val.parse::<u32>()
                        .ok()
                        .filter(|m| *m > 1)
                        .ok_or_else(|| format!("invalid multiplier '{val}'"))?,
                )
            }
            "seconds" => {
                seconds = Some(
                    val.parse::<u32>()
                        .map_err(|_| format!("invalid seconds '{val}'"))?,
                )
            }
            "unique_on" if detection_filter => {
                unique_on = Some(match val {
                    "src_port" => UniqueOn::SrcPort,
                    "dst_port" => UniqueOn::DstPort,
                    other => return Err(format!("unique_on '{other}' is not src_port/dst_port")),
                })
            }
            other => return Err(format!("unknown threshold option '{other}'")),
        }
    }
    match (kind, track, count, seconds, multiplier) {
        (Some(ThresholdKind::Backoff), Some(track), Some(count), None, Some(multiplier))
            if count > 0 =>
        {
            Ok(ThresholdSpec {
                unique_on: None,
                kind: ThresholdKind::Backoff,
                track,
                count,
                seconds: 0,
                multiplier,
            })
        }
        (Some(ThresholdKind::Backoff), ..) => {
            Err("backoff needs track, count (> 0) and multiplier, no seconds".into())
        }
        (Some(kind), Some(track), Some(count), Some(seconds), None) if count > 0 => {
            Ok(ThresholdSpec {
                unique_on,
                kind,
                track,
                count,
                seconds,
                multiplier: 1,
            })
        }
        _ => Err("threshold needs type, track, count (> 0) and seconds".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmp_forms() {
        assert_eq!(Cmp::parse("5", 255).unwrap(), Cmp::Eq(5));
        assert_eq!(Cmp::parse("<5", 255).unwrap(), Cmp::Lt(5));
        assert_eq!(Cmp::parse(">=5", 255).unwrap(), Cmp::Ge(5));
        assert_eq!(Cmp::parse("!5", 255).unwrap(), Cmp::Ne(5));
        assert_eq!(Cmp::parse("3<>9", 255).unwrap(), Cmp::Between(3, 9));
        assert_eq!(Cmp::parse("3-9", 255).unwrap(), Cmp::Between(3, 9));
        assert!(
            Cmp::Between(3, 9).test(4)
                && !Cmp::Between(3, 9).test(3)
                && !Cmp::Between(3, 9).test(9)
        );
        assert!(Cmp::parse("300", 255).is_err());
        assert!(Cmp::parse("9<>3", 255).is_err());
        assert!(Cmp::parse("x", 255).is_err());
    }

    #[test]
    fn pcre_flags_and_buffers() {
        let (p, b) = parse_pcre(r#""/a\;b\/c/Ri""#).unwrap();
        assert_eq!(p.pattern, r"a;b\/c");
        assert!(p.relative && p.caseless && !p.negated);
        assert_eq!(b, None);
        let (p, b) = parse_pcre(r#"!"/x/U""#).unwrap();
        assert!(p.negated);
        assert_eq!(b, Some("http.uri"));
        assert!(parse_pcre(r#""/x/UH""#).is_err());
        assert!(parse_pcre(r#""/x/q""#).is_err());
        assert!(parse_pcre(r#""x""#).is_err());
        // Captures into variables, quoted or bare, and named groups.
        let (p, _) = parse_pcre(r#""/(a)(b)/i, flow:one,pkt:two""#).unwrap();
        assert_eq!(
            p.captures,
            vec![(true, "one".into()), (false, "two".into())]
        );
        assert!(p.caseless);
        let (p, _) = parse_pcre(r#"/:authority: ([^:]*:[^@]*)@/,flow:http2_userinfo"#).unwrap();
        assert_eq!(p.captures, vec![(true, "http2_userinfo".into())]);
        let (p, _) = parse_pcre(r#""/(?P<pkt_ua>.*)/""#).unwrap();
        assert_eq!(p.captures, vec![(false, "ua".into())]);
        assert!(parse_pcre(r#""/(a)/,host:x""#).is_err());
    }

    #[test]
    fn stream_size_forms() {
        assert_eq!(
            parse_stream_size("server,<,1111").unwrap(),
            (StreamSide::Server, Cmp::Lt(1111))
        );
        assert_eq!(
            parse_stream_size("either, >=, 5").unwrap(),
            (StreamSide::Either, Cmp::Ge(5))
        );
        assert!(parse_stream_size("server,<").is_err());
        assert!(parse_stream_size("nobody,<,1").is_err());
        assert!(parse_stream_size("server,~,1").is_err());
    }

    #[test]
    fn xbits_forms() {
        use crate::detect::xbits::{XOp, XTrack};
        let (n, op, t) = parse_xbits("set,ET.x,track ip_pair,expire 15")
            .unwrap()
            .unwrap();
        assert_eq!((n.as_str(), op, t), ("ET.x", XOp::Set(15), XTrack::IpPair));
        let (_, op, t) = parse_xbits("isset,a, track ip_dst").unwrap().unwrap();
        assert_eq!((op, t), (XOp::IsSet, XTrack::IpDst));
        assert_eq!(
            parse_xbits("set,a,track ip_src").unwrap().unwrap().1,
            XOp::Set(XBITS_DEFAULT_EXPIRE)
        );
        assert!(parse_xbits("noalert").unwrap().is_none());
        // Whitespace and a colon inside the options, as Suricata accepts them.
        let (_, op, t) = parse_xbits("set,x,track ip_src, expire: 10")
            .unwrap()
            .unwrap();
        assert_eq!((op, t), (XOp::Set(10), XTrack::IpSrc));
        assert!(parse_xbits("set,x,track ip_src, expire: ten").is_err());
        assert!(parse_xbits("set,a").is_err());
        assert!(parse_xbits("set,a,track host").is_err());
        assert!(parse_xbits("frob,a,track ip_src").is_err());
    }

    #[test]
    fn tcp_flags() {
        let sa = parse_flags("SA").unwrap();
        assert!(sa.test(0x12) && !sa.test(0x02) && !sa.test(0x1a));
        let s_plus = parse_flags("S+").unwrap();
        assert!(s_plus.test(0x12) && s_plus.test(0x02) && !s_plus.test(0x10));
        let any = parse_flags("*FR").unwrap();
        assert!(any.test(0x11) && any.test(0x04) && !any.test(0x10));
        let not = parse_flags("!R").unwrap();
        assert!(not.test(0x10) && !not.test(0x14));
        let masked = parse_flags("S,CE").unwrap();
        assert!(masked.test(0x02 | 0x80 | 0x40));
        assert!(parse_flags("SX").is_err());
    }

    #[test]
    fn flowbits_forms() {
        assert_eq!(
            parse_flowbits("set,a").unwrap(),
            Some(FlowbitOp::Set(vec!["a".into()]))
        );
        assert_eq!(
            parse_flowbits("isset,a|b").unwrap(),
            Some(FlowbitOp::IsSet(vec!["a".into(), "b".into()], false))
        );
        assert_eq!(
            parse_flowbits("isset,a&b").unwrap(),
            Some(FlowbitOp::IsSet(vec!["a".into(), "b".into()], true))
        );
        assert_eq!(parse_flowbits("noalert").unwrap(), None);
        assert!(parse_flowbits("isset").is_err());
        assert!(parse_flowbits("frob,a").is_err());
    }

    #[test]
    fn thresholds() {
        let t = parse_threshold("type limit, track by_src, count 1, seconds 60", false).unwrap();
        assert_eq!(
            (t.kind, t.track, t.count, t.seconds),
            (ThresholdKind::Limit, Track::BySrc, 1, 60)
        );
        let d = parse_threshold("track by_dst, count 5, seconds 10", true).unwrap();
        assert_eq!(d.kind, ThresholdKind::DetectionFilter);
        assert!(parse_threshold("type limit, track by_src, count 1", false).is_err());
        assert!(
            parse_threshold("type sometimes, track by_src, count 1, seconds 1", false).is_err()
        );
    }
}

/// `dce_iface` / `dcerpc.iface`: the interface a DCERPC request's context names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DceIface {
    /// Interface UUID in its little-endian wire form.
    pub uuid: [u8; 16],
    /// Version test on the interface's major version: `<`, `>`, `=` or `!`, and the value.
    pub version: Option<(u8, u16)>,
    /// Match on any fragment of a call, not only the first.
    pub any_frag: bool,
}

impl DceIface {
    /// Whether a request's interface record (UUID, major, minor, first-fragment flag; see
    /// [`crate::applayer::Buf::DceIface`]) satisfies the test.
    pub fn holds(&self, rec: &[u8]) -> bool {
        if rec.len() < 21 || rec[..16] != self.uuid {
            return false;
        }
        if !self.any_frag && rec[20] == 0 {
            return false;
        }
        let major = u16::from_le_bytes([rec[16], rec[17]]);
        match self.version {
            None => true,
            Some((b'<', v)) => major < v,
            Some((b'>', v)) => major > v,
            Some((b'!', v)) => major != v,
            Some((_, v)) => major == v,
        }
    }
}

/// Parses `dce_iface`'s value: `<uuid>[,<op><version>][,any_frag][,preack]`.
pub fn parse_dce_iface(v: &str) -> Result<DceIface, String> {
    let mut parts = v.split(',').map(str::trim);
    let uuid_s = parts.next().unwrap_or("");
    let uuid = crate::applayer::wire::parse_guid(uuid_s)
        .ok_or_else(|| format!("dce_iface: '{uuid_s}' is not a UUID"))?;
    let mut spec = DceIface {
        uuid,
        version: None,
        any_frag: false,
    };
    for p in parts {
        match p {
            "any_frag" => spec.any_frag = true,
            // Matching before the server's acknowledgement (SMB): the interface record
            // only exists once the bind was answered, which this keyword does not relax.
            "preack" => {}
            _ => {
                let (op, num) = match p.as_bytes().first() {
                    Some(&c @ (b'<' | b'>' | b'=' | b'!')) => (c, &p[1..]),
                    _ => return Err(format!("dce_iface: unknown option '{p}'")),
                };
                let n: u16 = num
                    .trim()
                    .parse()
                    .map_err(|_| format!("dce_iface: bad version '{p}'"))?;
                spec.version = Some((op, n));
            }
        }
    }
    Ok(spec)
}

/// Parses `dce_opnum`'s value into inclusive ranges: `15`, `12,24,62`, `10-20`, `>10`, `<5`,
/// `!7`, `=3`.
pub fn parse_dce_opnum(v: &str) -> Result<Vec<(u16, u16)>, String> {
    let num = |s: &str| -> Result<u16, String> {
        s.trim()
            .parse::<u16>()
            .map_err(|_| format!("dce_opnum: bad opnum '{s}'"))
    };
    let mut out = Vec::new();
    for p in v.split(',').map(str::trim) {
        if p.is_empty() {
            return Err("dce_opnum: empty item".into());
        }
        match p.as_bytes()[0] {
            b'>' => {
                let n = num(&p[1..])?;
                if n < u16::MAX {
                    out.push((n + 1, u16::MAX));
                }
            }
            b'<' => {
                let n = num(&p[1..])?;
                if n > 0 {
                    out.push((0, n - 1));
                }
            }
            b'=' => {
                let n = num(&p[1..])?;
                out.push((n, n));
            }
            b'!' => {
                let n = num(&p[1..])?;
                if n > 0 {
                    out.push((0, n - 1));
                }
                if n < u16::MAX {
                    out.push((n + 1, u16::MAX));
                }
            }
            _ => match p.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (num(a)?, num(b)?);
                    if a > b {
                        return Err(format!("dce_opnum: empty range '{p}'"));
                    }
                    out.push((a, b));
                }
                None => {
                    let n = num(p)?;
                    out.push((n, n));
                }
            },
        }
    }
    Ok(out)
}

/// `krb5.ticket_encryption`: `weak`, `!weak`, or a list of encryption types (names or
/// numbers, each possibly negated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtypeCond {
    /// `weak` (true) or `!weak` (false).
    pub weak: Option<bool>,
    /// Types that match.
    pub any_of: Vec<i32>,
    /// Types that must not be used.
    pub none_of: Vec<i32>,
}

impl EtypeCond {
    /// Parses the keyword's value.
    pub fn parse(v: &str) -> Result<EtypeCond, String> {
        let mut c = EtypeCond {
            weak: None,
            any_of: Vec::new(),
            none_of: Vec::new(),
        };
        for item in v.split(',').map(str::trim) {
            let (neg, name) = match item.strip_prefix('!') {
                Some(n) => (true, n.trim()),
                None => (false, item),
            };
            if name == "weak" {
                c.weak = Some(!neg);
                continue;
            }
            let e = crate::applayer::krb5::etype_by_name(name)
                .ok_or_else(|| format!("krb5.ticket_encryption: unknown type '{name}'"))?;
            if neg {
                c.none_of.push(e);
            } else {
                c.any_of.push(e);
            }
        }
        if c.weak.is_some() && !(c.any_of.is_empty() && c.none_of.is_empty()) {
            return Err("krb5.ticket_encryption: 'weak' cannot be combined with types".into());
        }
        Ok(c)
    }

    /// Whether a ticket encrypted with `etype` satisfies the condition.
    pub fn holds(&self, etype: i32) -> bool {
        if let Some(w) = self.weak {
            return crate::applayer::krb5::weak_etype(etype) == w;
        }
        !self.none_of.contains(&etype) && (self.any_of.is_empty() || self.any_of.contains(&etype))
    }
}
