// ICE Downtime Assistant: everything the bot needs in one Azure resource group.
//
//   az deployment group create --resource-group <rg> --name icebot \
//     --parameters infra/azure/parameters/prod.bicepparam
//
// What it creates, and why each choice: infra/README.md ("Azure") and
// docs/decisions.md (D11). The walk-through from an empty subscription:
// docs/deployment.md. Secrets arrive only as @secure() parameters (the
// .bicepparam files read them from environment variables), go straight into
// Key Vault, and reach the app as Key Vault references resolved with the app's
// managed identity: no secret is an app setting, an output or a literal here.
//
// Offline checks (`make test`): checkov scans this file; every skip below
// carries its reason on the same line. tests/test_azure_infra.py checks that
// every setting bot/settings.py reads is set here (or deliberately left at
// its default) and that no secret is written as a literal.

targetScope = 'resourceGroup'

// ---------------------------------------------------------------- parameters

@description('Environment name, part of every resource name.')
@allowed([
  'test'
  'prod'
])
param environmentName string

@description('Azure region for everything except the Azure Bot (which is global).')
param location string = resourceGroup().location

@description('Short prefix for resource names (lower-case letters and digits).')
@minLength(3)
@maxLength(8)
param namePrefix string = 'icebot'

@description('Tags on every resource (owner, cost centre, ...).')
param tags object = {}

// --- The bot's Entra app registration (docs/deployment.md, step 2) ---

@description('Application (client) ID of the bot\'s Entra app registration: MicrosoftAppId.')
param botAppId string

@description('Directory (tenant) ID that owns the app registration: MicrosoftAppTenantId.')
param botTenantId string = tenant().tenantId

@secure()
@description('Client secret of the app registration: MicrosoftAppPassword. Stored in Key Vault only.')
param botAppPassword string

@description('Expiry of that client secret as shown in Entra (ISO 8601, e.g. 2027-05-31T00:00:00Z); recorded on the Key Vault secret so its near-expiry is visible.')
param botAppPasswordExpiresOn string

@description('Azure Bot pricing tier: F0 (free) or S1 (standard, paid).')
@allowed([
  'F0'
  'S1'
])
param botSku string = 'S1'

@description('Entra tenant ids whose users may use the bot (ALLOWED_TENANT_IDS), comma-separated. For NHSmail users: the NHSmail shared tenant\'s id; docs/deployment.md says how to find and check it.')
@minLength(36)
param allowedTenantIds string

// --- NHSmail (docs/deployment.md, "NHSmail") ---

@description('The NHSmail application account\'s full address: MAIL_FROM and SMTP_USERNAME.')
param mailFrom string

@secure()
@description('The NHSmail application account\'s password: SMTP_PASSWORD. Stored in Key Vault only.')
param smtpPassword string

@description('SMTP submission host (NHSmail: send.nhs.net).')
param smtpHost string = 'send.nhs.net'

@description('SMTP submission port (NHSmail: 587 with STARTTLS).')
param smtpPort int = 587

// --- Patient data retention (docs/clinical-safety.md) ---

@description('RETENTION_DAYS: days patient data is kept after a request is sent or finally fails. The deploying organisation decides it with its IG lead / DPO.')
@minValue(0)
param retentionDays int = 14

// --- Incidents (README, "Incidents"; docs/operations.md) ---

@description('ADMIN_AAD_OBJECT_IDS: Entra object ids (GUIDs) of the people who may declare an ICE outage to every conversation, comma-separated. Empty: nobody can.')
param adminAadObjectIds string = ''

// --- App Service ---

@description('App Service plan SKU (Linux). B1 is the smallest with VNet integration and Always On; P0v3 and up for production.')
param appServicePlanSku string = 'P0v3'

@description('Instances of the bot. Two or more for availability; MAIL_MAX_PER_MINUTE is set to 30 divided by this.')
@minValue(1)
@maxValue(10)
param appInstanceCount int = 2

@description('Spread the plan\'s instances over availability zones (Premium v3 and up, two instances or more, a region with zones such as UK South). The test environment\'s B1 plan cannot.')
param appZoneRedundant bool = true

@description('Image repository in the registry this template creates (built from infra/Dockerfile).')
param imageRepository string = 'ice-downtime-assistant'

@description('Image tag to run. Build and push it first: docs/deployment.md, "Build the image".')
param imageTag string

// --- PostgreSQL ---

@description('Administrator login of the PostgreSQL server; the bot connects as this role.')
param postgresAdminLogin string = 'icebotadmin'

@secure()
@description('Password of that login. Stored in Key Vault only (also inside DATABASE_URL).')
param postgresAdminPassword string

@description('PostgreSQL major version.')
param postgresVersion string = '16'

@description('PostgreSQL compute SKU, e.g. Standard_B1ms (Burstable) or Standard_D2ds_v5 (GeneralPurpose).')
param postgresSkuName string = 'Standard_D2ds_v5'

@description('Tier matching postgresSkuName.')
@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param postgresSkuTier string = 'GeneralPurpose'

@description('Storage in GiB (grows automatically).')
param postgresStorageSizeGB int = 32

@description('ZoneRedundant keeps a standby in another zone (not with Burstable).')
@allowed([
  'Disabled'
  'SameZone'
  'ZoneRedundant'
])
param postgresHighAvailability string = 'ZoneRedundant'

@description('Point-in-time restore window in days (7-35). docs/decisions.md D11 explains the 7-day default: backups hold patient data for this long after the bot has purged it.')
@minValue(7)
@maxValue(35)
param postgresBackupRetentionDays int = 7

@description('Copy backups to the paired region (UK South to UK West). Can only be chosen when the server is created.')
@allowed([
  'Enabled'
  'Disabled'
])
param postgresGeoRedundantBackup string = 'Enabled'

// --- Network and monitoring ---

@description('Address space of the VNet; agree it with your network team if the VNet will be peered.')
param vnetAddressPrefix string = '10.60.0.0/24'

@description('Subnets inside vnetAddressPrefix: App Service integration (/26 or larger), PostgreSQL, private endpoints, one-off jobs (/28 each).')
param subnetPrefixes object = {
  app: '10.60.0.0/26'
  postgres: '10.60.0.64/28'
  endpoints: '10.60.0.80/28'
  jobs: '10.60.0.96/28'
}

@description('Days Log Analytics keeps logs and telemetry.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 90

// ------------------------------------------------------------------ names

var suffix = take(uniqueString(subscription().id, resourceGroup().id, environmentName), 6)
var baseName = '${namePrefix}-${environmentName}'
var names = {
  identity: 'id-${baseName}'
  logs: 'log-${baseName}'
  insights: 'appi-${baseName}'
  vnet: 'vnet-${baseName}'
  natIp: 'pip-nat-${baseName}'
  nat: 'nat-${baseName}'
  nsgApp: 'nsg-app-${baseName}'
  nsgPostgres: 'nsg-postgres-${baseName}'
  nsgEndpoints: 'nsg-endpoints-${baseName}'
  nsgJobs: 'nsg-jobs-${baseName}'
  keyVault: 'kv-${baseName}-${suffix}'
  keyVaultEndpoint: 'pe-kv-${baseName}'
  registry: 'cr${namePrefix}${environmentName}${suffix}'
  postgres: 'psql-${baseName}-${suffix}'
  plan: 'asp-${baseName}'
  app: 'app-${baseName}-${suffix}'
  bot: 'bot-${baseName}-${suffix}'
}
var databaseName = 'icebot'
var containerPort = 3978

// Built-in role definition ids (the same in every tenant).
var roleKeyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var roleAcrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

// Key Vault secret names; the app reads each through a Key Vault reference.
var secretNames = {
  botAppPassword: 'bot-app-password'
  smtpPassword: 'smtp-password'
  postgresAdminPassword: 'postgres-admin-password'
  databaseUrl: 'database-url'
}

// ---------------------------------------------------------------- identity

// One user-assigned identity: pulls the image, reads Key Vault secrets, and is
// reusable by the one-off migration container (docs/deployment.md).
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: names.identity
  location: location
  tags: tags
}

// -------------------------------------------------------------- monitoring

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: names.logs
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: logRetentionDays
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: names.insights
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    IngestionMode: 'LogAnalytics'
  }
}

// ----------------------------------------------------------------- network

resource natIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = {
  name: names.natIp
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
  }
}

// All the app's outbound traffic goes through the VNet (needed for the Key
// Vault private endpoint); the NAT gateway gives it one fixed public address
// towards Teams, Entra ID and NHSmail.
resource nat 'Microsoft.Network/natGateways@2024-05-01' = {
  name: names.nat
  location: location
  tags: tags
  sku: {
    name: 'Standard'
  }
  properties: {
    publicIpAddresses: [
      {
        id: natIp.id
      }
    ]
  }
}

// No custom rules: Azure's defaults allow traffic inside the VNet and deny
// inbound from the internet, which is all these subnets need.
resource nsgApp 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: names.nsgApp
  location: location
  tags: tags
}

resource nsgPostgres 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: names.nsgPostgres
  location: location
  tags: tags
}

resource nsgEndpoints 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: names.nsgEndpoints
  location: location
  tags: tags
}

resource nsgJobs 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: names.nsgJobs
  location: location
  tags: tags
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: names.vnet
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        vnetAddressPrefix
      ]
    }
    subnets: [
      {
        // App Service VNet integration: a /26, delegated to the plan.
        name: 'snet-app'
        properties: {
          addressPrefix: subnetPrefixes.app
          delegations: [
            {
              name: 'app-service'
              properties: {
                serviceName: 'Microsoft.Web/serverFarms'
              }
            }
          ]
          natGateway: {
            id: nat.id
          }
          networkSecurityGroup: {
            id: nsgApp.id
          }
        }
      }
      {
        // PostgreSQL flexible server with private access: a delegated subnet.
        name: 'snet-postgres'
        properties: {
          addressPrefix: subnetPrefixes.postgres
          delegations: [
            {
              name: 'postgres'
              properties: {
                serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers'
              }
            }
          ]
          networkSecurityGroup: {
            id: nsgPostgres.id
          }
        }
      }
      {
        // Private endpoints (Key Vault).
        name: 'snet-endpoints'
        properties: {
          addressPrefix: subnetPrefixes.endpoints
          networkSecurityGroup: {
            id: nsgEndpoints.id
          }
        }
      }
      {
        // One-off containers inside the VNet: the release-step migration.
        name: 'snet-jobs'
        properties: {
          addressPrefix: subnetPrefixes.jobs
          delegations: [
            {
              name: 'container-instances'
              properties: {
                serviceName: 'Microsoft.ContainerInstance/containerGroups'
              }
            }
          ]
          networkSecurityGroup: {
            id: nsgJobs.id
          }
        }
      }
    ]
  }
}

var subnetIds = {
  app: resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'snet-app')
  postgres: resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'snet-postgres')
  endpoints: resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'snet-endpoints')
  jobs: resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, 'snet-jobs')
}

// Private DNS: the server's name and the vault's name resolve to private
// addresses inside the VNet only.
resource postgresDns 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: '${names.postgres}.private.postgres.database.azure.com'
  location: 'global'
  tags: tags
}

resource postgresDnsLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: postgresDns
  name: names.vnet
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}

resource keyVaultDns 'Microsoft.Network/privateDnsZones@2024-06-01' = {
  name: 'privatelink.vaultcore.azure.net'
  location: 'global'
  tags: tags
}

resource keyVaultDnsLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = {
  parent: keyVaultDns
  name: names.vnet
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}

// --------------------------------------------------------------- Key Vault

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: names.keyVault
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    // Reached only through its private endpoint; secrets are written by this
    // template through Azure Resource Manager (docs/deployment.md, rotation).
    publicNetworkAccess: 'Disabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'None'
    }
  }
}

resource keyVaultEndpoint 'Microsoft.Network/privateEndpoints@2024-05-01' = {
  name: names.keyVaultEndpoint
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetIds.endpoints
    }
    privateLinkServiceConnections: [
      {
        name: names.keyVaultEndpoint
        properties: {
          privateLinkServiceId: keyVault.id
          groupIds: [
            'vault'
          ]
        }
      }
    ]
  }
}

resource keyVaultEndpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = {
  parent: keyVaultEndpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: 'vaultcore'
        properties: {
          privateDnsZoneId: keyVaultDns.id
        }
      }
    ]
  }
}

resource identityReadsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: keyVault
  name: guid(keyVault.id, identity.id, roleKeyVaultSecretsUser)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleKeyVaultSecretsUser)
  }
}

resource botAppPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: secretNames.botAppPassword
  properties: {
    value: botAppPassword
    contentType: 'Entra client secret (MicrosoftAppPassword)'
    attributes: {
      exp: dateTimeToEpoch(botAppPasswordExpiresOn)
    }
  }
}

resource smtpPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: an NHSmail password has no expiry date we could record; NHSmail's policy sets when it changes (docs/operations.md, rotating secrets)
  parent: keyVault
  name: secretNames.smtpPassword
  properties: {
    value: smtpPassword
    contentType: 'NHSmail application account password (SMTP_PASSWORD)'
  }
}

resource postgresPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: a database password has no intrinsic expiry; a date here would be invented and would move on every deployment
  parent: keyVault
  name: secretNames.postgresAdminPassword
  properties: {
    value: postgresAdminPassword
    contentType: 'PostgreSQL administrator password'
  }
}

// asyncpg through SQLAlchemy; TLS with the server's certificate and host name
// verified (ssl=verify-full) against the system CA bundle named by
// PGSSLROOTCERT in the app settings.
resource databaseUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: derived from the database password above, which has no expiry
  parent: keyVault
  name: secretNames.databaseUrl
  properties: {
    value: 'postgresql+asyncpg://${uriComponent(postgresAdminLogin)}:${uriComponent(postgresAdminPassword)}@${postgres.properties.fullyQualifiedDomainName}:5432/${databaseName}?ssl=verify-full'
    contentType: 'SQLAlchemy URL (DATABASE_URL)'
  }
}

// Key Vault references: versionless, so the newest version is used after a
// rotation (App Service re-reads them on restart and at least daily).
var keyVaultReference = {
  botAppPassword: '@Microsoft.KeyVault(SecretUri=${keyVault.properties.vaultUri}secrets/${secretNames.botAppPassword}/)'
  smtpPassword: '@Microsoft.KeyVault(SecretUri=${keyVault.properties.vaultUri}secrets/${secretNames.smtpPassword}/)'
  databaseUrl: '@Microsoft.KeyVault(SecretUri=${keyVault.properties.vaultUri}secrets/${secretNames.databaseUrl}/)'
}

// -------------------------------------------------------------- PostgreSQL

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: names.postgres
  location: location
  tags: tags
  sku: {
    name: postgresSkuName
    tier: postgresSkuTier
  }
  properties: {
    version: postgresVersion
    administratorLogin: postgresAdminLogin
    administratorLoginPassword: postgresAdminPassword
    authConfig: {
      activeDirectoryAuth: 'Disabled'
      passwordAuth: 'Enabled'
    }
    storage: {
      storageSizeGB: postgresStorageSizeGB
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: postgresBackupRetentionDays
      geoRedundantBackup: postgresGeoRedundantBackup
    }
    highAvailability: {
      mode: postgresHighAvailability
    }
    network: {
      delegatedSubnetResourceId: subnetIds.postgres
      privateDnsZoneArmResourceId: postgresDns.id
      publicNetworkAccess: 'Disabled'
    }
    maintenanceWindow: {
      customWindow: 'Enabled'
      dayOfWeek: 0
      startHour: 2
      startMinute: 0
    }
  }
  dependsOn: [
    postgresDnsLink
  ]
}

// Server parameters are applied one at a time (the service rejects
// concurrent updates), hence the chain.
resource requireTls 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: postgres
  name: 'require_secure_transport'
  properties: {
    value: 'on'
    source: 'user-override'
  }
}

resource minimumTls 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: postgres
  name: 'ssl_min_protocol_version'
  properties: {
    value: 'TLSv1.2'
    source: 'user-override'
  }
  dependsOn: [
    requireTls
  ]
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: postgres
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  dependsOn: [
    minimumTls
  ]
}

// ---------------------------------------------------------------- registry

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  // checkov:skip=CKV_AZURE_139: Basic tier has no private endpoints; pulls and pushes need an Entra identity with an ACR role (admin user off, anonymous pull off)
  // checkov:skip=CKV_AZURE_163: image scanning is Microsoft Defender for Containers, switched on per subscription by the platform team, not per registry
  // checkov:skip=CKV_AZURE_166: quarantine is a Premium feature; only this deployment's operators push, through az acr build from a reviewed commit
  // checkov:skip=CKV_AZURE_233: zone redundancy is a Premium feature; an outage stops only new pulls (a deployment, a scale-out), running instances keep their image
  name: names.registry
  location: location
  tags: tags
  sku: {
    name: 'Basic'
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
  }
}

resource identityPullsImages 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: registry
  name: guid(registry.id, identity.id, roleAcrPull)
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleAcrPull)
  }
}

// ------------------------------------------------------------- App Service

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: names.plan
  location: location
  tags: tags
  kind: 'linux'
  sku: {
    name: appServicePlanSku
    capacity: appInstanceCount
  }
  properties: {
    reserved: true
    zoneRedundant: appZoneRedundant
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: Bot Framework does not present client certificates; its requests are authenticated by their JWT
  // checkov:skip=CKV_AZURE_222: Teams (Bot Framework) must reach https://<app>/api/messages from the internet; every request there is authenticated
  name: names.app
  location: location
  tags: tags
  kind: 'app,linux,container'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientAffinityEnabled: false
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: subnetIds.app
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      linuxFxVersion: 'DOCKER|${registry.properties.loginServer}/${imageRepository}:${imageTag}'
      acrUseManagedIdentityCreds: true
      acrUserManagedIdentityID: identity.properties.clientId
      alwaysOn: true
      // The app runs on every instance of its plan.
      numberOfWorkers: appInstanceCount
      healthCheckPath: '/readyz'
      http20Enabled: true
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      remoteDebuggingEnabled: false
      // All outbound traffic into the VNet: Linux apps need this to resolve Key
      // Vault references through the vault's private endpoint.
      vnetRouteAllEnabled: true
      appSettings: [
        // --- platform ---
        {
          name: 'WEBSITES_PORT'
          value: string(containerPort)
        }
        {
          name: 'WEBSITES_ENABLE_APP_SERVICE_STORAGE'
          value: 'false'
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: insights.properties.ConnectionString
        }
        // asyncpg's verify-full needs a CA bundle; the image's Debian bundle holds the roots Azure PostgreSQL chains to.
        {
          name: 'PGSSLROOTCERT'
          value: '/etc/ssl/certs/ca-certificates.crt'
        }
        // --- bot/settings.py, in the README's order ---
        {
          name: 'PORT'
          value: string(containerPort)
        }
        {
          name: 'HOST'
          value: '0.0.0.0'
        }
        {
          name: 'MicrosoftAppId'
          value: botAppId
        }
        {
          name: 'MicrosoftAppPassword'
          value: keyVaultReference.botAppPassword
        }
        {
          name: 'MicrosoftAppType'
          value: 'SingleTenant'
        }
        {
          name: 'MicrosoftAppTenantId'
          value: botTenantId
        }
        {
          name: 'DEV_MODE'
          value: 'false'
        }
        {
          name: 'ALLOWED_TENANT_IDS'
          value: allowedTenantIds
        }
        {
          name: 'DATABASE_URL'
          value: keyVaultReference.databaseUrl
        }
        {
          name: 'LOG_LEVEL'
          value: 'INFO'
        }
        {
          name: 'MAIL_TRANSPORT'
          value: 'smtp'
        }
        {
          name: 'MAIL_FROM'
          value: mailFrom
        }
        {
          name: 'SMTP_HOST'
          value: smtpHost
        }
        {
          name: 'SMTP_PORT'
          value: string(smtpPort)
        }
        {
          name: 'SMTP_USERNAME'
          value: mailFrom
        }
        {
          name: 'SMTP_PASSWORD'
          value: keyVaultReference.smtpPassword
        }
        {
          name: 'SMTP_STARTTLS'
          value: 'true'
        }
        // Every instance sends through the same NHSmail account (about 30 a minute per mailbox).
        {
          name: 'MAIL_MAX_PER_MINUTE'
          value: string(30 / appInstanceCount)
        }
        {
          name: 'RETENTION_DAYS'
          value: string(retentionDays)
        }
        {
          name: 'ADMIN_AAD_OBJECT_IDS'
          value: adminAadObjectIds
        }
        // Teams allows an app 50 requests a second per tenant; broadcasts from all
        // instances together stay at 20, leaving the rest for users' turns.
        {
          name: 'BROADCAST_MAX_PER_SECOND'
          value: string(20 / appInstanceCount)
        }
      ]
    }
  }
  dependsOn: [
    identityReadsSecrets
    identityPullsImages
    botAppPasswordSecret
    smtpPasswordSecret
    databaseUrlSecret
    database
    keyVaultEndpointDns
    keyVaultDnsLink
  ]
}

// Basic-authentication publishing (FTP and the SCM site) off: deployments go
// through Entra-authenticated APIs only.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

// ------------------------------------------------------------ diagnostics

// The bot's own log lines (stderr) and the platform's, into Log Analytics.
// The bot never logs patient data (docs/operations.md, "Logs").
resource appDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: app
  name: 'to-log-analytics'
  properties: {
    workspaceId: logs.id
    logs: [
      {
        category: 'AppServiceConsoleLogs'
        enabled: true
      }
      {
        category: 'AppServiceHTTPLogs'
        enabled: true
      }
      {
        category: 'AppServicePlatformLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

resource keyVaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: keyVault
  name: 'to-log-analytics'
  properties: {
    workspaceId: logs.id
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}

resource postgresDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: postgres
  name: 'to-log-analytics'
  properties: {
    workspaceId: logs.id
    logs: [
      {
        category: 'PostgreSQLLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

// --------------------------------------------------------------- Azure Bot

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: names.bot
  location: 'global'
  tags: tags
  kind: 'azurebot'
  sku: {
    name: botSku
  }
  properties: {
    displayName: 'ICE Downtime Assistant'
    endpoint: 'https://${app.properties.defaultHostName}/api/messages'
    msaAppId: botAppId
    msaAppType: 'SingleTenant'
    msaAppTenantId: botTenantId
  }
}

resource teamsChannel 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: {
      isEnabled: true
    }
  }
}

// ------------------------------------------------------------------ outputs
// Names and addresses only; never a secret. `make package` takes botAppId:
// docs/deployment.md, "The Teams app".

output botAppId string = botAppId
output messagingEndpoint string = bot.properties.endpoint
output appHostName string = app.properties.defaultHostName
output appName string = app.name
output registryName string = registry.name
output registryLoginServer string = registry.properties.loginServer
output imageRepository string = imageRepository
output keyVaultName string = keyVault.name
output postgresHost string = postgres.properties.fullyQualifiedDomainName
output postgresAdminLogin string = postgresAdminLogin
output databaseName string = databaseName
output identityId string = identity.id
output identityClientId string = identity.properties.clientId
output jobsSubnetId string = subnetIds.jobs
output natPublicIp string = natIp.properties.ipAddress
