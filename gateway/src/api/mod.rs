//! API v1: the route job endpoints ([`submit`], [`jobs`]), charging stations and favourites
//! ([`stations`]), the submit body's wire schema and
//! parser ([`body`]), and the API description generated from them ([`openapi`]).

pub mod body;
pub mod docs_page;
pub mod events;
pub mod jobs;
pub mod openapi;
pub mod openapi_finish;
pub mod stations;
pub mod submit;
pub mod webhooks;
