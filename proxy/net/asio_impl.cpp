// The one translation unit that compiles Boost.Asio, Asio SSL and Beast (separate
// compilation: every other TU only sees declarations, which keeps 2-core builds short).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
