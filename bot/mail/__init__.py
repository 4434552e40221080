"""Email for downtime requests: compose it, deliver it, and keep trying until it has gone.

Nothing here knows about Teams; the handler hands a `RequestDocument` in and gets
`DeliveryEvent`s back through the worker's `notify` callback.
"""
