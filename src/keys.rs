//! Opening a key as one of the module's types: the value, None for an empty key, or the
//! standard WRONGTYPE error. Written once for every type.

use crate::error::{wrong_type, Error};
use crate::ffi::types::Persisted;
use redis_module::key::{RedisKey, RedisKeyWritable};
use redis_module::{Context, RedisString};

/// A key name as a string the module API takes, byte for byte: key names are binary, and a
/// NUL in one (which `RedisString::create` and `Context::create_string` refuse with a panic)
/// is as valid as any other byte.
pub fn name(ctx: &Context, bytes: &[u8]) -> RedisString {
    RedisString::create_from_slice(ctx.get_raw(), bytes)
}

pub fn read<T: Persisted + 'static>(key: &RedisKey) -> Result<Option<&T>, Error> {
    key.get_value::<T>(T::redis_type())
        .map_err(|_| wrong_type())
}

pub fn write<T: Persisted + 'static>(key: &RedisKeyWritable) -> Result<Option<&mut T>, Error> {
    key.get_value::<T>(T::redis_type())
        .map_err(|_| wrong_type())
}

/// Stores `value` under an empty key, counts it in the INFO gauges, and returns it.
pub fn create<T: Persisted + 'static>(key: &RedisKeyWritable, value: T) -> Result<&mut T, Error> {
    key.set_value(T::redis_type(), value)?;
    let v = write::<T>(key)?.ok_or_else(|| crate::error::err("ERR could not create the key"))?;
    v.track(1);
    Ok(v)
}
