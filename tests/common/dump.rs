//! DUMP payloads of module types taken apart and put back together, so that tests can forge
//! RESTORE payloads field by field (cut short, a field of the wrong type, a value no command
//! would store) with the trailing CRC-64 recomputed, as a hostile client would.
//!
//! A module value's payload (Redis 7.0, `RDB_TYPE_MODULE_2`) is: the type byte 7, the module
//! type ID (a 64-bit RDB length: 54-bit signature, 10-bit encoding version), then each value
//! the module saved as an opcode (2 unsigned, 5 string) and the value, then opcode 0 (EOF);
//! then the RDB version (2 bytes) and a CRC-64 (Jones, reflected, little endian) of it all.
//! Strings are read in every form Redis writes them except LZF: servers that make payloads for
//! these tests run with `rdbcompression no`.
#![allow(dead_code)]

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Uint(u64),
    Str(Vec<u8>),
}

#[derive(Debug, Clone)]
pub struct Payload {
    pub module_id: u64,
    pub fields: Vec<Field>,
    pub rdb_version: [u8; 2],
}

const OP_EOF: u64 = 0;
const OP_UINT: u64 = 2;
const OP_STRING: u64 = 5;

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data[self.pos];
        self.pos += 1;
        b
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        s
    }

    /// An RDB length, or the integer encoding of a string (`Err(enc)`).
    fn len_or_enc(&mut self) -> Result<u64, u8> {
        let b = self.byte();
        match b >> 6 {
            0 => Ok(u64::from(b & 0x3f)),
            1 => Ok((u64::from(b & 0x3f) << 8) | u64::from(self.byte())),
            2 if b == 0x80 => Ok(u64::from(u32::from_be_bytes(
                self.take(4).try_into().unwrap(),
            ))),
            2 if b == 0x81 => Ok(u64::from_be_bytes(self.take(8).try_into().unwrap())),
            3 => Err(b & 0x3f),
            _ => panic!("unknown RDB length byte {b:#x}"),
        }
    }

    fn len(&mut self) -> u64 {
        self.len_or_enc().expect("a length, not an encoded string")
    }

    fn string(&mut self) -> Vec<u8> {
        match self.len_or_enc() {
            Ok(n) => self.take(n as usize).to_vec(),
            Err(0) => (self.byte() as i8).to_string().into_bytes(),
            Err(1) => i16::from_le_bytes(self.take(2).try_into().unwrap())
                .to_string()
                .into_bytes(),
            Err(2) => i32::from_le_bytes(self.take(4).try_into().unwrap())
                .to_string()
                .into_bytes(),
            Err(e) => panic!("string encoding {e} (LZF? start the server with rdbcompression no)"),
        }
    }
}

fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

impl Payload {
    pub fn parse(dump: &[u8]) -> Payload {
        let n = dump.len();
        assert_eq!(crc64(&dump[..n - 8]).to_le_bytes(), dump[n - 8..], "CRC");
        let mut r = Reader {
            data: &dump[..n - 10],
            pos: 0,
        };
        assert_eq!(r.byte(), 7, "a module value (RDB_TYPE_MODULE_2)");
        let module_id = r.len();
        let mut fields = Vec::new();
        loop {
            match r.len() {
                OP_EOF => break,
                OP_UINT => fields.push(Field::Uint(r.len())),
                OP_STRING => fields.push(Field::Str(r.string())),
                op => panic!("module opcode {op} (float/double are not used)"),
            }
        }
        assert_eq!(r.pos, n - 10, "nothing after the EOF opcode");
        Payload {
            module_id,
            fields,
            rdb_version: [dump[n - 10], dump[n - 9]],
        }
    }

    pub fn encver(&self) -> u64 {
        self.module_id & 1023
    }

    /// The value's bytes up to and including the EOF opcode (no version, no CRC).
    pub fn body(&self) -> Vec<u8> {
        let mut out = vec![7];
        put_len(&mut out, self.module_id);
        for f in &self.fields {
            match f {
                Field::Uint(v) => {
                    put_len(&mut out, OP_UINT);
                    put_len(&mut out, *v);
                }
                Field::Str(b) => {
                    put_len(&mut out, OP_STRING);
                    put_len(&mut out, b.len() as u64);
                    out.extend_from_slice(b);
                }
            }
        }
        put_len(&mut out, OP_EOF);
        out
    }

    /// A RESTORE payload: the body, the RDB version and the CRC-64.
    pub fn encode(&self) -> Vec<u8> {
        seal(&self.body(), self.rdb_version)
    }
}

/// `body` followed by the RDB version and a CRC-64 that matches.
pub fn seal(body: &[u8], rdb_version: [u8; 2]) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&rdb_version);
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

pub fn crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for b in data {
        crc ^= u64::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x95AC_9329_AC4B_C9B5
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// DUMP of `key` (the server must run with `rdbcompression no` to be parsed).
pub fn dump(c: &mut redis::Connection, key: &str) -> Vec<u8> {
    redis::from_redis_value(&super::call(c, &["DUMP", key]).unwrap()).unwrap()
}

/// RESTORE `key` 0 `payload`: Ok(()) when accepted, the error text otherwise.
pub fn restore(c: &mut redis::Connection, key: &str, payload: &[u8]) -> Result<(), String> {
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg(key).arg(0).arg(payload);
    cmd.query::<()>(c).map_err(|e| e.to_string())
}

/// A small deterministic generator (xorshift64) for mutations.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `count` damaged versions of `p`, deterministic for a seed: first the payload cut after
/// each field (the EOF opcode where a value should be), then a mix of raw cuts, flipped bytes,
/// fields of the other type, out-of-range integers, malformed strings, fields dropped or
/// repeated. Each is a full RESTORE payload with its CRC recomputed.
pub fn mutations(p: &Payload, count: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for k in 0..p.fields.len().min(count / 3) {
        let mut q = p.clone();
        q.fields.truncate(k);
        out.push((format!("cut after field {k}"), q.encode()));
    }
    let mut rng = Rng(seed | 1);
    let ints = [
        0,
        1,
        2,
        3,
        7,
        1 << 32,
        1 << 62,
        i64::MAX as u64,
        1 << 63,
        u64::MAX - 1,
        u64::MAX,
    ];
    let strings: [&[u8]; 14] = [
        b"",
        b"-1",
        b"-0.5",
        b"1e3",
        b"0.0000001",
        b"1000000000000000001",
        b"99999999999999999999999",
        b"nan",
        b"\xff\xfe",
        b"{}",
        b"null",
        b"{\"a\":1",
        b"{\"labels\":{\"a\":\"1\",\"a\":\"2\"}}",
        b"{\"id\":\"1-1\"}",
    ];
    while out.len() < count {
        let mut q = p.clone();
        let n = q.fields.len();
        let i = rng.below(n);
        let what = match rng.below(9) {
            0 => {
                let body = q.body();
                // Past the type byte and the module ID (9 bytes), before the EOF opcode.
                let cut = 10 + rng.below(body.len() - 11);
                out.push((
                    format!("raw cut at byte {cut}"),
                    seal(&body[..cut], q.rdb_version),
                ));
                continue;
            }
            1 => {
                let mut body = q.body();
                let flips = 1 + rng.below(3);
                for _ in 0..flips {
                    let at = 10 + rng.below(body.len() - 10);
                    body[at] ^= 1 << rng.below(8);
                }
                out.push((format!("{flips} bits flipped"), seal(&body, q.rdb_version)));
                continue;
            }
            2 => {
                q.fields[i] = match &q.fields[i] {
                    Field::Uint(v) => Field::Str(v.to_string().into_bytes()),
                    Field::Str(b) => Field::Uint(b.len() as u64),
                };
                format!("field {i} of the other type")
            }
            3 | 4 => match &q.fields[i] {
                Field::Uint(v) => {
                    let w = match rng.below(4) {
                        0 => v.wrapping_add(1),
                        1 => v.wrapping_sub(1),
                        _ => ints[rng.below(ints.len())],
                    };
                    q.fields[i] = Field::Uint(w);
                    format!("field {i} = {w}")
                }
                Field::Str(b) => {
                    let mut b = b.clone();
                    match rng.below(3) {
                        0 if !b.is_empty() => {
                            b.pop();
                        }
                        1 if !b.is_empty() => {
                            let at = rng.below(b.len());
                            b[at] = b[at].wrapping_add(1 + rng.below(255) as u8);
                        }
                        _ => b = strings[rng.below(strings.len())].to_vec(),
                    }
                    let shown = String::from_utf8_lossy(&b).into_owned();
                    q.fields[i] = Field::Str(b);
                    format!("field {i} = {shown:?}")
                }
            },
            5 => {
                q.fields.remove(i);
                format!("field {i} dropped")
            }
            6 => {
                let f = q.fields[i].clone();
                q.fields.insert(i, f);
                format!("field {i} repeated")
            }
            7 => {
                q.fields.push(Field::Uint(rng.next() % 4));
                "a field too many".to_string()
            }
            _ => {
                // Two changes at once: a count and what it counts can disagree in both ways.
                let j = rng.below(n);
                if let Field::Uint(v) = q.fields[j] {
                    q.fields[j] = Field::Uint(v.wrapping_add(1 + rng.next() % 3));
                }
                q.fields.truncate(n - rng.below(n.min(8)));
                format!("field {j} grown and cut")
            }
        };
        out.push((what, q.encode()));
    }
    out
}
