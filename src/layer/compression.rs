//! Layer compressions and their streaming decoders. A `Decoder` is read to its true end by the
//! pipeline (past the tar trailer), so gzip's CRC/size trailer and every zstd frame are checked:
//! a truncated or corrupted compressed stream is an error even when the tar inside looks whole.
//! Gzip decodes every member (pigz and some registries write multi-member streams, Go's reader
//! accepts them); zstd decodes every frame and accepts windows up to 2^31 (long-distance mode).

use std::io::{self, BufRead, Read};
use std::str::FromStr;

use crate::error::Error;

/// The largest zstd window accepted (`--long=31`); the default decoder limit is 2^27.
const ZSTD_WINDOW_LOG_MAX: u32 = 31;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

impl FromStr for Compression {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Error> {
        match value {
            "gzip" => Ok(Self::Gzip),
            "zstd" => Ok(Self::Zstd),
            "none" => Ok(Self::None),
            _ => Err(Error::Unsupported {
                what: "compression",
                value: value.to_owned(),
            }),
        }
    }
}

/// A streaming decoder over a buffered source. One per pipeline, never moved on a hot path,
/// so the size difference of the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Decoder<R: BufRead> {
    Gzip(flate2::bufread::MultiGzDecoder<R>),
    Zstd(zstd::stream::read::Decoder<'static, R>),
    None(R),
}

impl<R: BufRead> Decoder<R> {
    pub fn new(compression: Compression, source: R) -> io::Result<Self> {
        Ok(match compression {
            Compression::Gzip => Self::Gzip(flate2::bufread::MultiGzDecoder::new(source)),
            Compression::Zstd => {
                let mut decoder = zstd::stream::read::Decoder::with_buffer(source)?;
                decoder.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
                Self::Zstd(decoder)
            }
            Compression::None => Self::None(source),
        })
    }
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Gzip(decoder) => decoder.read(buffer),
            Self::Zstd(decoder) => decoder.read(buffer),
            Self::None(source) => source.read(buffer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn decode(compression: Compression, data: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Decoder::new(compression, data)?.read_to_end(&mut out)?;
        Ok(out)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn parses_names() {
        assert_eq!("gzip".parse::<Compression>().unwrap(), Compression::Gzip);
        assert_eq!("zstd".parse::<Compression>().unwrap(), Compression::Zstd);
        assert_eq!("none".parse::<Compression>().unwrap(), Compression::None);
        assert!(matches!(
            "bzip2".parse::<Compression>(),
            Err(Error::Unsupported { .. })
        ));
    }

    #[test]
    fn gzip_multi_member() {
        let mut stream = gzip(b"hello ");
        stream.extend(gzip(b"world"));
        assert_eq!(decode(Compression::Gzip, &stream).unwrap(), b"hello world");
    }

    #[test]
    fn zstd_multi_frame_and_long_window() {
        let mut stream = zstd::encode_all(&b"hello "[..], 3).unwrap();
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        encoder.window_log(30).unwrap();
        encoder.long_distance_matching(true).unwrap();
        encoder.write_all(b"world").unwrap();
        stream.extend(encoder.finish().unwrap());
        assert_eq!(decode(Compression::Zstd, &stream).unwrap(), b"hello world");
    }

    #[test]
    fn truncated_streams_fail() {
        let data = vec![7u8; 100_000];
        let stream = gzip(&data);
        assert!(
            decode(Compression::Gzip, &stream[..stream.len() - 4]).is_err(),
            "gzip"
        );
        let stream = zstd::encode_all(&data[..], 3).unwrap();
        assert!(
            decode(Compression::Zstd, &stream[..stream.len() - 4]).is_err(),
            "zstd"
        );
    }
}
