// Test environment: smallest sizes that still have private networking, one
// instance, no zone redundancy. Values that differ per organisation, and every
// secret, come from environment variables (docs/deployment.md, step 4); none
// is written here.
using '../main.bicep'

param environmentName = 'test'

param botAppId = readEnvironmentVariable('ICEBOT_BOT_APP_ID')
param botAppPassword = readEnvironmentVariable('ICEBOT_BOT_APP_PASSWORD')
param botAppPasswordExpiresOn = readEnvironmentVariable('ICEBOT_BOT_APP_PASSWORD_EXPIRES_ON')
param botSku = 'F0'
param allowedTenantIds = readEnvironmentVariable('ICEBOT_ALLOWED_TENANT_IDS')

param mailFrom = readEnvironmentVariable('ICEBOT_MAIL_FROM')
param smtpPassword = readEnvironmentVariable('ICEBOT_SMTP_PASSWORD')

// Who may declare an ICE outage to every conversation (Entra object ids; empty: nobody).
param adminAadObjectIds = readEnvironmentVariable('ICEBOT_ADMIN_AAD_OBJECT_IDS', '')

param imageTag = readEnvironmentVariable('ICEBOT_IMAGE_TAG')
param appServicePlanSku = 'B1'
param appInstanceCount = 1
param appZoneRedundant = false

param postgresAdminPassword = readEnvironmentVariable('ICEBOT_POSTGRES_ADMIN_PASSWORD')
param postgresSkuName = 'Standard_B1ms'
param postgresSkuTier = 'Burstable'
param postgresHighAvailability = 'Disabled'
param postgresGeoRedundantBackup = 'Disabled'
param postgresBackupRetentionDays = 7

param logRetentionDays = 30
