//! The protobuf codec of the API: prost's, except that a message that fails to decode is the
//! sender's mistake, INVALID_ARGUMENT, not INTERNAL. Malformed bytes, strings that are not
//! UTF-8 and nesting deeper than the decoder allows all come from the client, and DESIGN.md
//! promises that nothing a client sends produces INTERNAL.

use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::{ProstDecoder, ProstEncoder};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// Named in `build.rs` as the codec of every generated method.
#[derive(Debug, Clone)]
pub struct StrictProstCodec<T, U> {
    _types: std::marker::PhantomData<(T, U)>,
}

impl<T, U> Default for StrictProstCodec<T, U> {
    fn default() -> Self {
        Self { _types: std::marker::PhantomData }
    }
}

impl<T, U> Codec for StrictProstCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = StrictDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        StrictDecoder(ProstDecoder::default())
    }
}

#[derive(Debug, Clone)]
pub struct StrictDecoder<U>(ProstDecoder<U>);

impl<U: prost::Message + Default> Decoder for StrictDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|status| {
            let description = format!("is not a valid protobuf message: {}", status.message());
            Status::with_error_details(
                Code::InvalidArgument,
                format!("invalid request: {description}"),
                ErrorDetails::with_bad_request(vec![FieldViolation::new("request", description)]),
            )
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}
